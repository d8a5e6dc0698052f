"""The reliability runs' fault script: how the receiver answers each delivery attempt.

By a hash of (seed, job id, attempt), so a run can predict every answer, and with it Cobalt's rule
(one retry after a 5xx or a closed connection) says what each job's attempts and final status are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

Answer = Literal["ok", "500", "close"]


@dataclass(frozen=True)
class FaultScript:
    """How the receiver answers: by a hash of (seed, job id, attempt), so every run can predict it."""

    fail: float = 0.0  # share of attempts answered 500
    close: float = 0.0  # share of attempts whose connection is closed without an answer
    delay: float = 0.0  # seconds the receiver waits before answering (a slow receiver)
    seed: str = "cobalt-mock"

    def answer(self, job_id: str, attempt: int) -> Answer:
        digest = hashlib.blake2b(f"{self.seed}:{job_id}:{attempt}".encode(), digest_size=8).digest()
        draw = int.from_bytes(digest, "big") / 2**64
        if draw < self.fail:
            return "500"
        if draw < self.fail + self.close:
            return "close"
        return "ok"

    def expected(self, job_id: str) -> tuple[list[Answer], str]:
        """Cobalt's rule applied to the script: the answers a job's attempts get, and its final status.

        A 5xx or a closed connection gets one retry; the retry's answer is final.
        """
        first = self.answer(job_id, 1)
        if first == "ok":
            return ["ok"], "success"
        second = self.answer(job_id, 2)
        return [first, second], "success" if second == "ok" else "failed"


CLEAN = FaultScript()
FAULTY = FaultScript(fail=0.30, close=0.10)
SLOW = FaultScript(delay=0.2)
