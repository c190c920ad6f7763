-- Quarter-day (6 h, UTC-aligned) roll-ups between days and hours: a 7-day window read
-- ~40 edge hours of histogram rows with days and hours alone (BENCHMARKS.md). The
-- triggers of 0007 are replaced by the same with three spans; 6 h rows are filled from runs.
DROP TRIGGER `runs_rollup_ai`;
--> statement-breakpoint
DROP TRIGGER `runs_rollup_au`;
--> statement-breakpoint
DROP TRIGGER `runs_rollup_ad`;
--> statement-breakpoint
CREATE TRIGGER `runs_rollup_ai` AFTER INSERT ON `runs` WHEN new.`status` != 'running' BEGIN
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (3600000, (new.`created_at` / 3600000) * 3600000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 3600000, (new.`created_at` / 3600000) * 3600000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 3600000, (new.`created_at` / 3600000) * 3600000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (21600000, (new.`created_at` / 21600000) * 21600000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 21600000, (new.`created_at` / 21600000) * 21600000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 21600000, (new.`created_at` / 21600000) * 21600000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
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
  INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`) VALUES (21600000, (new.`created_at` / 21600000) * 21600000, new.`agent`, new.`status`, 1)
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 21600000, (new.`created_at` / 21600000) * 21600000, 'first_byte', CASE WHEN new.`first_byte_ms` < 10 THEN new.`first_byte_ms` ELSE 10 + CAST(ln(new.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`first_byte_ms` IS NOT NULL
    ON CONFLICT DO UPDATE SET `runs` = `runs` + 1;
  INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
    SELECT 21600000, (new.`created_at` / 21600000) * 21600000, 'total', CASE WHEN new.`total_ms` < 10 THEN new.`total_ms` ELSE 10 + CAST(ln(new.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END, 1 WHERE new.`total_ms` IS NOT NULL
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
    WHERE `span` = 21600000 AND `start` = (old.`created_at` / 21600000) * 21600000 AND `agent` = old.`agent` AND `status` = old.`status`;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 21600000 AND `start` = (old.`created_at` / 21600000) * 21600000 AND `metric` = 'first_byte' AND `bucket` = CASE WHEN old.`first_byte_ms` < 10 THEN old.`first_byte_ms` ELSE 10 + CAST(ln(old.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 21600000 AND `start` = (old.`created_at` / 21600000) * 21600000 AND `metric` = 'total' AND `bucket` = CASE WHEN old.`total_ms` < 10 THEN old.`total_ms` ELSE 10 + CAST(ln(old.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END;
  UPDATE `run_counts` SET `runs` = `runs` - 1
    WHERE `span` = 86400000 AND `start` = (old.`created_at` / 86400000) * 86400000 AND `agent` = old.`agent` AND `status` = old.`status`;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 86400000 AND `start` = (old.`created_at` / 86400000) * 86400000 AND `metric` = 'first_byte' AND `bucket` = CASE WHEN old.`first_byte_ms` < 10 THEN old.`first_byte_ms` ELSE 10 + CAST(ln(old.`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END;
  UPDATE `run_latency` SET `runs` = `runs` - 1
    WHERE `span` = 86400000 AND `start` = (old.`created_at` / 86400000) * 86400000 AND `metric` = 'total' AND `bucket` = CASE WHEN old.`total_ms` < 10 THEN old.`total_ms` ELSE 10 + CAST(ln(old.`total_ms` / 10.0) / ln(1.04) AS INTEGER) END;
END;
--> statement-breakpoint
INSERT INTO `run_counts` (`span`, `start`, `agent`, `status`, `runs`)
  SELECT 21600000, (`created_at` / 21600000) * 21600000, `agent`, `status`, count(*) FROM `runs` WHERE `status` != 'running'
    GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
INSERT INTO `run_latency` (`span`, `start`, `metric`, `bucket`, `runs`)
  SELECT `span`, `start`, `metric`, `bucket`, count(*) FROM (
    SELECT 21600000 AS `span`, (`created_at` / 21600000) * 21600000 AS `start`, 'first_byte' AS `metric`, CASE WHEN `first_byte_ms` < 10 THEN `first_byte_ms` ELSE 10 + CAST(ln(`first_byte_ms` / 10.0) / ln(1.04) AS INTEGER) END AS `bucket`
      FROM `runs` WHERE `status` != 'running' AND `first_byte_ms` IS NOT NULL
    UNION ALL
    SELECT 21600000 AS `span`, (`created_at` / 21600000) * 21600000 AS `start`, 'total' AS `metric`, CASE WHEN `total_ms` < 10 THEN `total_ms` ELSE 10 + CAST(ln(`total_ms` / 10.0) / ln(1.04) AS INTEGER) END AS `bucket`
      FROM `runs` WHERE `status` != 'running' AND `total_ms` IS NOT NULL)
  GROUP BY 1, 2, 3, 4;
