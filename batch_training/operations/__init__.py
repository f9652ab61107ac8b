"""What happens when things fail, in plain Python (no Dagster): failure classes of live and stored
errors, the relaunch planner, the failure ledger (in the registry's database) and recording into it, alerts
and the tags runs carry."""
