"Bad input, generated: arbitrary Unicode file names round-trip through the contents API, and arbitrary code through `execute` ends, on a real server"
import os, fnmatch, pytest
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

# what the server leaves out of listings by default (`ContentsManager.hide_globs`); such files still round-trip
HIDE_GLOBS = '__pycache__', '*.pyc', '*.pyo', '.DS_Store', '*~'
def hidden(name): return any(fnmatch.fnmatchcase(name, g) for g in HIDE_GLOBS)

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
    if not hidden(name): assert name in [e['name'] for e in c.ls(folder)]
    new = f'{folder}/renamed {name}'
    c.rename(path, new)
    assert not c.exists(path) and c.get(new)['content'] == text
    c.delete(new)
    with pytest.raises(NotFound): c.get(new)
    c.delete(folder)

# Arbitrary code strings through `execute` on one real kernel: each one ends as an Execution with status ok or error,
# within a bounded time, and the kernel still answers afterwards. Lone surrogates cannot be sent (they are not text):
# they raise a clear ValueError before anything is sent. '!' and '%' are swapped for look-alikes so that no random
# string runs a shell command or a magic (`!rm ...`), which is IPython's business and not the protocol's.
# Left out: a valid expression thousands of operators deep (`1 + 1 + ... + 1`, 5000 terms). CPython raises
# RecursionError while compiling it and IPython then spends minutes formatting that error, deaf to interrupts: the
# client does its part (ExecutionTimeout after `timeout` plus the grace period) but the kernel stays busy.
import time
from jupyter_playground.channels import ExecutionTimeout
RAN = {'examples': 0, 'statuses': {}}

@pytest.fixture(scope='module')
def kernel(jp):
    kid = jp.kernels.start()['id']
    with jp.connect(kid) as k: yield k
    jp.kernels.shutdown(kid)

TRICKY = ['', '\n', '\r', '\r\n\r\n', 'x = "\x00"', '\x00', '"unbalanced', "'''never closed", 'print("a\rb")', '(((', ')))',
          'def f(:', '\t\tindented', 'raise SystemExit', 'raise KeyboardInterrupt', 'import sys; sys.stdout.write("\\x00")',
          'print("é😀\u202e\ufeff")', '\ufeff1 + 1', 'x = "' + 'a' * 1_000_000 + '"', '# ' + '€' * 200_000, '1 +' + ' 1 +' * 200 + ' 1',
          'print("\\ud800")', '"\\\\"', '\\', 'lambda: (yield)', 'await 1', 'async def f(): pass', '?', 'len?', 'x = 1;' * 10_000,
          'print(' * 300 + ')' * 300, 'exec("\\x00")', '__import__("sys").stdout.flush()', 'print(end="no newline")']

codes = st.one_of(
    st.text(st.characters(blacklist_categories=('Cs',)), max_size=200),
    st.text(st.sampled_from('()[]{}"\'\\\n\r\t #:;=+-*/.,0123456789abcdefxyz\x00éλ😀\u2028'), max_size=120),
    st.sampled_from(TRICKY),
    st.builds(lambda c, n: c * n, st.sampled_from(['a', '(', '"', '\n', '1 + ', 'é']), st.integers(1000, 50_000)),
).map(lambda s: s.replace('!', '¡').replace('%', '٪'))

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(code=codes)
def test_any_code_gives_an_execution(kernel, code):
    t0 = time.monotonic()
    try: ex = kernel.execute(code, timeout=10)
    except ExecutionTimeout: pytest.fail(f'no answer within 10 s for {code[:80]!r}')
    assert ex.status in ('ok', 'error'), (code[:80], ex.reply)
    assert time.monotonic() - t0 < 10
    RAN['examples'] += 1
    RAN['statuses'][ex.status] = RAN['statuses'].get(ex.status, 0) + 1

def test_every_tricky_string(kernel):
    for code in TRICKY:
        assert kernel.execute(code, timeout=10).status in ('ok', 'error'), code[:80]
    RAN['examples'] += len(TRICKY)

def test_lone_surrogates_fail_clearly_before_sending(kernel):
    for code in ('x = "\ud800"', '\udfff', 'print(1)\n# \ud83d'):
        t0 = time.monotonic()
        with pytest.raises(ValueError, match='lone surrogate'): kernel.execute(code, timeout=10)
        assert time.monotonic() - t0 < 1
    with pytest.raises(ValueError, match='lone surrogate'): kernel.complete('\ud800')
    assert kernel.execute('1 + 1').text == '2'

def test_kernel_still_answers(kernel, counts):
    assert kernel.execute('1 + 1', timeout=10).text == '2'
    seen = ', '.join(f"{v} {'raised' if k == 'error' else k}" for k,v in RAN['statuses'].items())
    counts('code strings through execute', f"{RAN['examples']} ({seen} among the generated ones)")
