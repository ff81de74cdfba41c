"Bad input, generated: arbitrary Unicode file names round-trip through the contents API of a real server"
import os, pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from jupyter_playground.server import LocalServer
from jupyter_playground.auth import NotFound

@pytest.fixture(scope='module')
def jp():
    with LocalServer() as srv: yield srv.client()

# Any Unicode except what no POSIX file name can hold ('/', NUL), surrogates (not UTF-8), and a leading
# '.' (the server hides dot files unless configured otherwise); at most 255 bytes, as Linux allows.
names = st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='/\x00'), min_size=1, max_size=40).filter(
    lambda s: not s.startswith('.') and len(s.encode()) <= 200 and s not in ('', '.', '..'))

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, text=st.text(max_size=200))
def test_any_name_round_trips(jp, name, text):
    c = jp.contents
    folder = 'fz ' + name[:10].replace('/', '_')
    c.mkdir(folder) if not c.exists(folder) else None
    path = f'{folder}/{name}'
    m = c.save(path, text)
    assert m['name'] == name and m['path'] == path
    assert c.get(path)['content'] == text
    assert name in [e['name'] for e in c.ls(folder)]
    new = f'{folder}/renamed {name}'
    c.rename(path, new)
    assert not c.exists(path) and c.get(new)['content'] == text
    c.delete(new)
    with pytest.raises(NotFound): c.get(new)
    c.delete(folder)
