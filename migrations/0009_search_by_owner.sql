-- Text search filters by owner inside the index (issue 10, point 4). A second FTS column,
-- `owner`, holds one token per message: 'o' followed by the hex of its session's
-- owner_key_id (no token when the session has no owner). A user's search is then
-- `owner : "o<hex>" AND content : "<phrase>"`, which FTS5 answers by intersecting posting
-- lists, so its cost follows the user's own messages, not how common the words are in
-- other owners' transcripts. A session's owner is set when it is created and never changes.
--
-- The index is contentless with contentless_delete=1: deleting a message needs only its
-- rowid. An external-content index would have to be given the deleted row's values, and a
-- session's deletion removes its messages by cascade after the session row is gone, so the
-- owner could no longer be read. `messages_search` is what gets indexed (the first 65,536
-- characters of each message, as in 0005, and the owner token); the insert trigger and
-- the fill below both read it. A contentless index cannot 'rebuild': to refill it, run
-- 'delete-all' and insert from the view, as below.
DROP TRIGGER `messages_fts_ai`;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ad`;
--> statement-breakpoint
DROP TABLE `messages_fts`;
--> statement-breakpoint
DROP VIEW `messages_search`;
--> statement-breakpoint
CREATE VIEW `messages_search` AS
  SELECT `m`.`id` AS `id`, substr(`m`.`content`, 1, 65536) AS `content`,
         CASE WHEN `s`.`owner_key_id` IS NOT NULL THEN 'o' || lower(hex(`s`.`owner_key_id`)) END AS `owner`
    FROM `messages` AS `m` JOIN `sessions` AS `s` ON `s`.`id` = `m`.`session_id`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `messages_fts` USING fts5(`content`, `owner`, content='', contentless_delete=1, tokenize='unicode61');
--> statement-breakpoint
INSERT INTO `messages_fts`(`rowid`, `content`, `owner`) SELECT `id`, `content`, `owner` FROM `messages_search`;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages` BEGIN
  INSERT INTO `messages_fts`(`rowid`, `content`, `owner`) SELECT `id`, `content`, `owner` FROM `messages_search` WHERE `id` = new.`id`;
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages` BEGIN
  DELETE FROM `messages_fts` WHERE `rowid` = old.`id`;
END;
