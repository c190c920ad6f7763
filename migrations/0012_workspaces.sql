CREATE TABLE `workspaces` (
	`session_id` text PRIMARY KEY NOT NULL,
	`tar` blob NOT NULL,
	`bytes` integer NOT NULL,
	`files` integer NOT NULL,
	`sha256` text NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`session_id`) REFERENCES `sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `workspace_in_bytes` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `workspace_in_sha256` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `workspace_out_bytes` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `workspace_out_sha256` text;