-- Index only the first 65,536 characters of each message: indexing a whole 100 MB reply
-- cost most of the time to store it (BENCHMARKS.md). The view keeps 'rebuild' and the
-- delete trigger consistent with what the insert trigger indexed.
DROP TRIGGER `messages_fts_ai`;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ad`;
--> statement-breakpoint
DROP TABLE `messages_fts`;
--> statement-breakpoint
CREATE VIEW `messages_search` AS SELECT `id`, substr(`content`, 1, 65536) AS `content` FROM `messages`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `messages_fts` USING fts5(`content`, content='messages_search', content_rowid='id', tokenize='unicode61');
--> statement-breakpoint
INSERT INTO `messages_fts`(`messages_fts`) VALUES ('rebuild');
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages` BEGIN
  INSERT INTO `messages_fts`(`rowid`, `content`) VALUES (new.`id`, substr(new.`content`, 1, 65536));
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages` BEGIN
  INSERT INTO `messages_fts`(`messages_fts`, `rowid`, `content`) VALUES ('delete', old.`id`, substr(old.`content`, 1, 65536));
END;
