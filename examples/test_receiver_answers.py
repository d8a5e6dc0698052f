"""Script the built-in receiver's answers to see Cobalt's retry rule."""

from mock_server import Behaviour


def test_a_500_is_retried_once_with_the_same_body(cobalt_mock):
    cobalt_mock.receiver.respond_with(Behaviour.status(500), Behaviour.status(200))
    job = cobalt_mock.wait_for_job(cobalt_mock.fetch())
    first, retry = cobalt_mock.deliveries
    assert (first.attempt, retry.attempt) == (1, 2)
    assert first.body == retry.body
    assert [a.status_code for a in job.attempts] == [500, 200]
