// Fetch a week of appointments, then poll GET /v1/webhook-events until its event is recorded.
// Node 18 or later (fetch is built in); no packages.
const base = process.env.COBALT_BASE_URL ?? "http://127.0.0.1:8765/v1";
const headers = {
  "content-type": "application/json",
  client_id: "ci_test",
  client_secret: "cs_test",
  access_token: "clinic-a",
};

const accepted = await fetch(`${base}/appointments/fetch`, {
  method: "POST",
  headers,
  body: JSON.stringify({ start_date: "2025-01-06", end_date: "2025-01-12" }),
});
if (accepted.status !== 202) throw new Error(`fetch answered ${accepted.status}: ${await accepted.text()}`);
const { job_id } = await accepted.json();

// Cobalt's documented polling: about once a second, an empty list until the job is done.
for (;;) {
  const page = await (await fetch(`${base}/webhook-events?job_id=${job_id}`, { headers })).json();
  const [event] = page.webhook_events;
  if (event) {
    console.log(`${job_id}: ${event.data.appointment_count} appointments, delivery ${event.delivery_status}`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
