ALTER TABLE `runs` ADD `input_tokens` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `output_tokens` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `total_tokens` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `tool_calls` integer;