pytest_plugins = ["services.runtime.testing"]
