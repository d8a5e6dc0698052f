"""Completing jobs and delivering their webhooks: timing, payloads, signing, sending."""
