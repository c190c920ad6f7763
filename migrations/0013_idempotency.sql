-- Idempotency-Key on the run endpoints: one run per key and API key (the keyless operator counts as one).
-- (drizzle-kit writes an expression index column by column: the index is written by hand.)
ALTER TABLE `runs` ADD `idempotency_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_idempotency_idx` ON `runs` (coalesce(`key_id`, ''), `idempotency_key`) WHERE `idempotency_key` IS NOT NULL;
