import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from inspect_fixtures import make_container  # noqa: E402


@pytest.fixture
def container():
    return make_container
