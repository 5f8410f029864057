
import pytest

from tests.support.inspect_fixtures import make_container


@pytest.fixture
def container():
    return make_container
