CREATE TABLE `run_counts` (
	`span` integer NOT NULL,
	`start` integer NOT NULL,
	`agent` text NOT NULL,
	`status` text NOT NULL,
	`runs` integer NOT NULL,
	PRIMARY KEY(`span`, `start`, `agent`, `status`)
);
--> statement-breakpoint
CREATE TABLE `run_latency` (
	`span` integer NOT NULL,
	`start` integer NOT NULL,
	`metric` text NOT NULL,
	`bucket` integer NOT NULL,
	`runs` integer NOT NULL,
	PRIMARY KEY(`span`, `start`, `metric`, `bucket`)
);

--> statement-breakpoint
-- A run counts in its creation hour and (UTC) day once it has ended (inserted ended, or
-- updated from 'running'), and stops counting when deleted (also by a session's cascade).
-- Latency buckets: exact below 10 ms, then 4% wide (src/db/schema.ts, runLatency).
CREATE TRIGGER `runs_rollup_ai` AFTER INSERT ON `runs` WHEN new.`status` != 'running' BEGIN
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (3600000, (new.`created_at` / 3600000) * 3600000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 3600000, (new.`created_at` / 3600000) * 3600000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 3600000, (new.`created_at` / 3600000) * 3600000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (86400000, (new.`created_at` / 86400000) * 86400000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 86400000, (new.`created_at` / 86400000) * 86400000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 86400000, (new.`created_at` / 86400000) * 86400000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `runs_rollup_au` AFTER UPDATE OF `status` ON `runs` WHEN old.`status` = 'running' AND new.`status` != 'running' BEGIN
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (3600000, (new.`created_at` / 3600000) * 3600000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 3600000, (new.`created_at` / 3600000) * 3600000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 3600000, (new.`created_at` / 3600000) * 3600000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (86400000, (new.`created_at` / 86400000) * 86400000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 86400000, (new.`created_at` / 86400000) * 86400000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 86400000, (new.`created_at` / 86400000) * 86400000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `runs_rollup_ad` AFTER DELETE ON `runs` WHEN old.`status` != 'running' BEGIN
  UPDATE `run_counts` SET `runs` = `runs` - 1
    WHERE `span` = 3600000 AND `start` = (old.`created_at` / 3600000) * 3600000 AND `agent` = old.`agent` AND `status` = old.`status`;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 3600000 AND `start` = (old.`created_at` / 3600000) * 3600000 AND `metric` = 'first_byte' AND `bucket` = CASE WHEN old.`first_byte_ms` < 10 THEN old.`first_byte_ms` ELSE 10 + CAST(ln(old.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 3600000 AND `start` = (old.`created_at` / 3600000) * 3600000 AND `metric` = 'total' AND `bucket` = CASE WHEN old.`total_ms` < 10 THEN old.`total_ms` ELSE 10 + CAST(ln(old.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END;
  UPDATE `run_counts` SET `runs` = `runs` - 1
    WHERE `span` = 86400000 AND `start` = (old.`created_at` / 86400000) * 86400000 AND `agent` = old.`agent` AND `status` = old.`status`;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 86400000 AND `start` = (old.`created_at` / 86400000) * 86400000 AND `metric` = 'first_byte' AND `bucket` = CASE WHEN old.`first_byte_ms` < 10 THEN old.`first_byte_ms` ELSE 10 + CAST(ln(old.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 86400000 AND `start` = (old.`created_at` / 86400000) * 86400000 AND `metric` = 'total' AND `bucket` = CASE WHEN old.`total_ms` < 10 THEN old.`total_ms` ELSE 10 + CAST(ln(old.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END;
END;
--> statement-breakpoint
INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`)
  SELECT `s`.`span`, (`r`.`created_at` / `s`.`span`) * `s`.`span`, `r`.`agent`, `r`.`status`, count(*)
    FROM `runs` AS `r`, (SELECT 3600000 AS `span` UNION ALL SELECT 86400000) AS `s` WHERE `r`.`status` != 'running'
    GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
  SELECT `span`, `start`, `metric`, `bucket`, count(*) FROM (
    SELECT `s`.`span`, (`r`.`created_at` / `s`.`span`) * `s`.`span` AS `start`, 'first_byte' AS `metric`, CASE WHEN `r`.`first_byte_ms` < 10 THEN `r`.`first_byte_ms` ELSE 10 + CAST(ln(`r`.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END AS `bucket`
      FROM `runs` AS `r`, (SELECT 3600000 AS `span` UNION ALL SELECT 86400000) AS `s` WHERE `r`.`status` != 'running' AND `r`.`first_byte_ms` IS NOT NULL
    UNION ALL
    SELECT `s`.`span`, (`r`.`created_at` / `s`.`span`) * `s`.`span` AS `start`, 'total' AS `metric`, CASE WHEN `r`.`total_ms` < 10 THEN `r`.`total_ms` ELSE 10 + CAST(ln(`r`.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END AS `bucket`
      FROM `runs` AS `r`, (SELECT 3600000 AS `span` UNION ALL SELECT 86400000) AS `s` WHERE `r`.`status` != 'running' AND `r`.`total_ms` IS NOT NULL)
  GROUP BY 1, 2, 3, 4;
