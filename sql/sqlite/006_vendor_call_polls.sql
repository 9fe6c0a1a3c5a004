-- 006_vendor_call_polls: how many of a logical call's attempts were polls for an answer the
-- vendor said was coming (Clearbit's 202, Hunter's 202/222), so retries = attempts - polls.
ALTER TABLE vendor_calls ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;
