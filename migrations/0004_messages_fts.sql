-- Full-text search over messages for GET /v1/sessions?q=..., kept in step by triggers.
CREATE VIRTUAL TABLE `messages_fts` USING fts5(`content`, content='messages', content_rowid='id', tokenize='unicode61');
--> statement-breakpoint
INSERT INTO `messages_fts`(`rowid`, `content`) SELECT `id`, `content` FROM `messages`;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages` BEGIN
  INSERT INTO `messages_fts`(`rowid`, `content`) VALUES (new.`id`, new.`content`);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages` BEGIN
  INSERT INTO `messages_fts`(`messages_fts`, `rowid`, `content`) VALUES ('delete', old.`id`, old.`content`);
END;
