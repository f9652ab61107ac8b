pytest_plugins = ["batch_training_tests.support.postgres", "batch_training_tests.support.fixtures"]
