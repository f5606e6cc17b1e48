"""The `installed` fixture for rkt-run's tests; it and the helpers live in runnerfixtures.py.

Test modules import from `runnerfixtures`, never from `conftest`: with several test
directories on one pytest command line, `conftest` is whichever tier's was imported last.
"""

from runnerfixtures import installed  # noqa: F401  (the fixture, found here by pytest)
