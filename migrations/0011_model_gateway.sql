ALTER TABLE `runs` ADD `model_calls` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `model_errors` integer;