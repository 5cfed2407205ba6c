DROP TABLE postmark_events;
