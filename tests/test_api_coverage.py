"""Every endpoint of the installed jupyter_server's `api.yaml` is wrapped and taught, or left out with a reason.

`jupyter_playground.rest.ENDPOINTS` maps `(method, path)` to `(library call, notebook)`; `LEFT_OUT` maps the
endpoints deliberately not wrapped to the reason. These tests read `api.yaml` from the installed package (with
pyyaml, a dev dependency), so a jupyter_server upgrade that adds an endpoint fails here until it is mapped.
"""
from importlib.resources import files
from pathlib import Path
import pytest, yaml
from jupyter_playground.rest import ENDPOINTS, LEFT_OUT, resolve_call, coverage_rows

NBS = Path(__file__).resolve().parents[1]/'nbs'

def documented() -> set:
    "The `(METHOD, path)` pairs of the installed jupyter_server's api.yaml"
    spec = yaml.safe_load((files('jupyter_server')/'services'/'api'/'api.yaml').read_text())
    return {(m.upper(), p) for p, ops in spec['paths'].items() for m in ops if m != 'parameters'}

def test_api_yaml_is_read():
    got = documented()
    assert ('GET', '/api/contents/{path}') in got and len(got) > 30, sorted(got)

def test_every_documented_endpoint_is_wrapped_or_left_out():
    missing = sorted(documented() - set(ENDPOINTS) - set(LEFT_OUT))
    assert not missing, f"endpoints of api.yaml in neither ENDPOINTS nor LEFT_OUT: {missing}"

def test_left_out_endpoints_have_reasons():
    assert not set(LEFT_OUT) & set(ENDPOINTS), "an endpoint is both wrapped and left out"
    bad = [k for k, why in LEFT_OUT.items() if not isinstance(why, str) or len(why.split()) < 3]
    assert not bad, f"LEFT_OUT entries without a reason: {bad}"

@pytest.mark.parametrize('key', sorted(ENDPOINTS), ids=lambda k: ' '.join(k))
def test_mapped_call_exists(key):
    call, nb = ENDPOINTS[key]
    assert call.startswith('jp.'), call
    try: f = resolve_call(call)
    except AttributeError as e: pytest.fail(f"{' '.join(key)} maps to {call}, which does not exist: {e}")
    assert callable(f), f"{call} is not callable"

@pytest.mark.parametrize('key', sorted(ENDPOINTS), ids=lambda k: ' '.join(k))
def test_mapped_notebook_exists(key):
    nb = ENDPOINTS[key][1]
    assert (NBS/f'{nb}.ipynb').exists(), f"{' '.join(key)} is taught in {nb}, but nbs/{nb}.ipynb does not exist"

def test_resolve_call_fails_on_a_made_up_name():
    with pytest.raises(AttributeError): resolve_call('jp.contents.teleport')
    with pytest.raises(AttributeError): resolve_call('jp.teleport')

def test_coverage_rows_flag_what_is_not_covered():
    rows = {(m, p): c for m, p, c, *_ in coverage_rows({('GET', '/api/teleport')})}
    assert 'not covered' in rows[('GET', '/api/teleport')]
    assert all('not covered' not in c for k, c in rows.items() if k != ('GET', '/api/teleport'))
