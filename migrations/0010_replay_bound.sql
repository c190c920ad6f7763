ALTER TABLE `runs` ADD `replay_messages` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `replay_omitted` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `replay_bytes` integer;