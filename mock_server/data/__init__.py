"""Pure, deterministic data generation: clinics, schedules, patient histories."""
