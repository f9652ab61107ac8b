"""The run tags the platform reads and writes, in one place (Dagster's own are ``dagster/...``)."""

TRIGGER = "batch_training/trigger"          # daily, recovery, rekick, continuation, cli
LEDGER_IDS = "batch_training/ledger_ids"    # the ledger entries a relaunch is for, "1,2,3"
ATTEMPT = "batch_training/attempt"          # the relaunch's attempt number (1 = first relaunch)
RELAUNCH = "batch_training/relaunch"        # the key of the relaunch request that made this run
CONTINUES = "batch_training/continues"      # the failed run whose blocked days this run continues
TRAINING = "batch_training/training"        # the spec of a training run (one at a time per spec)
GATE_OVERRIDE = "batch_training/gate_override"
TRAIN_REASON = "batch_training/train_reason"  # why the schedule or a sensor asked for a training
CONTINUED = "batch_training/continued"      # on a failed run whose held-back days were run in process
# Runs the CLI executes in its own process: where, so a later start can tell a dead one from a live one.
HOST = "batch_training/host"
PID = "batch_training/pid"
PID_STARTED = "batch_training/pid_started"

# Values of TRIGGER that the relaunch planner writes
RECOVERY, REKICK, CONTINUATION = "recovery", "rekick", "continuation"

# Keys of a step failure's metadata (``dg.Failure``) that the failure boundary writes
FAILURE_CLASS_KEY = "batch_training/failure_class"
HINT_KEY = "batch_training/hint"

# Dagster's own tags that the platform reads
PARTITION = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
WILL_RETRY = "dagster/will_retry"
SENSOR_NAME = "dagster/sensor_name"
RUN_KEY = "dagster/run_key"
BACKFILL = "dagster/backfill"
