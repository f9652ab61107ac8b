"""The data contract: cleanse raw rows into clean and quarantined rows, and judge a day. No Dagster here."""

from batch_training.cleansing.contract import CleansingResult, cleanse

__all__ = ["CleansingResult", "cleanse"]
