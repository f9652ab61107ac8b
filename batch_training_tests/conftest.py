pytest_plugins = ["batch_training_tests.support.postgres"]
