-- What RETENTION_DAYS and Idempotency-Key read by: a run's messages (and the cascade when a prune deletes its run), sessions by last touch.
CREATE INDEX `messages_run_idx` ON `messages` (`run_id`);--> statement-breakpoint
CREATE INDEX `sessions_updated_idx` ON `sessions` (`updated_at`);