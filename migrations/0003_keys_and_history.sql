CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`prefix` text NOT NULL,
	`secret_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_idx` ON `api_keys` (`secret_hash`);--> statement-breakpoint
DROP INDEX `sessions_updated_idx`;--> statement-breakpoint
ALTER TABLE `sessions` ADD `owner_key_id` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `turns` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `last_status` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `total_ms` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `total_tokens` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `sessions_created_idx` ON `sessions` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_owner_created_idx` ON `sessions` (`owner_key_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_agent_created_idx` ON `sessions` (`agent`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_status_created_idx` ON `sessions` (`last_status`,`created_at`,`id`);--> statement-breakpoint
ALTER TABLE `runs` ADD `key_id` text;--> statement-breakpoint
CREATE INDEX `runs_created_idx` ON `runs` (`created_at`);--> statement-breakpoint
UPDATE `sessions` SET
  `turns` = (SELECT count(*) FROM `runs` WHERE `runs`.`session_id` = `sessions`.`id`),
  `last_status` = (SELECT `status` FROM `runs` WHERE `runs`.`session_id` = `sessions`.`id` ORDER BY `created_at` DESC LIMIT 1),
  `total_ms` = coalesce((SELECT sum(`total_ms`) FROM `runs` WHERE `runs`.`session_id` = `sessions`.`id`), 0),
  `total_tokens` = coalesce((SELECT sum(`total_tokens`) FROM `runs` WHERE `runs`.`session_id` = `sessions`.`id`), 0);
