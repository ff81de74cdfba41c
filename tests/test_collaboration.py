"JupyterLab 4 with jupyter-collaboration: file ids kept by uploads, file-id 404s kept, rooms detected, room edits survive a run"
import os, sys, json, time, subprocess, textwrap, warnings
import pytest
from jupyter_playground.all import *
from jupyter_playground.gateway import cached_venv

# jupyter-collaboration's server extensions (ydoc, fileid) load into every server of the environment they are in:
# an environment of their own keeps them out of the embedded servers the rest of the suite starts
LAB_REQUIREMENTS = ['jupyterlab>=4,<5', 'jupyter-collaboration>=4']

CLIENT = textwrap.dedent('''
    "A Y client of one collaboration room: joins, then follows commands from stdin, answering one JSON line each"
    import asyncio, json, sys
    from pycrdt import Doc, Provider
    from jupyter_ydoc import YNotebook
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    class Channel:
        "A tornado WebSocket as the Channel pycrdt's Provider syncs over"
        def __init__(self, ws, path): self.ws, self.path = ws, path
        def __aiter__(self): return self
        async def __anext__(self):
            m = await self.ws.read_message()
            if m is None: raise StopAsyncIteration
            return m if isinstance(m, bytes) else m.encode()
        async def recv(self): return await self.__anext__()
        async def send(self, m): await self.ws.write_message(m, binary=True)

    def say(**kw): print(json.dumps(kw), flush=True)
    def sources(nb): return [c['source'] for c in nb.get()['cells']]

    async def main(url, token):
        ws = await websocket_connect(HTTPRequest(url, headers={'Authorization': f'token {token}'}))
        doc = Doc(); nb = YNotebook(doc)
        async with Provider(doc, Channel(ws, url)):
            for _ in range(200):
                if nb.cell_number: break
                await asyncio.sleep(0.05)
            say(synced=sources(nb))
            loop = asyncio.get_running_loop()
            while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
                cmd, _, arg = line.partition(' ')
                if cmd == 'append': nb.append_cell({'cell_type': 'markdown', 'source': arg, 'metadata': {}})
                elif cmd == 'later':  # append `arg` after a second, while the caller is busy
                    loop.call_later(1, nb.append_cell, {'cell_type': 'markdown', 'source': arg, 'metadata': {}})
                elif cmd == 'until':  # wait for a cell whose source contains `arg`, for 20 s at most
                    for _ in range(400):
                        if any(arg in s for s in sources(nb)): break
                        await asyncio.sleep(0.05)
                say(cells=nb.get()['cells'])
        await asyncio.sleep(0)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
''')

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "One JupyterLab server with jupyter-collaboration, from its cached environment; our python3 kernelspec"
    ids = tmp_path_factory.mktemp('fileid')/'file_id_manager.db'  # not the user's own (in ~/.local/share/jupyter)
    srv = LocalServer(tmp_path_factory.mktemp('lab'), startup_timeout=90, extra_args=[f'--BaseFileIdManager.db_path={ids}'])
    srv._python = str(cached_venv('jupyterlab-collaboration', LAB_REQUIREMENTS))
    with srv: yield srv

@pytest.fixture
def jp(lab):
    with lab.client() as c: yield c

class YClient:
    "The client script, run by the lab environment's python, joined to the room of `path`"
    def __init__(self, lab, jp, path, tmp_path):
        r = jp.contents.room(path)
        (tmp_path/'yclient.py').write_text(CLIENT)
        self.p = subprocess.Popen([lab._python, str(tmp_path/'yclient.py'), r['ws_url'], lab.token], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.synced = self.read()['synced']
    def read(self):
        line = self.p.stdout.readline()
        if not line: raise AssertionError(f"the Y client ended: {self.p.stderr.read()[-2000:]}")
        return json.loads(line)
    def ask(self, cmd): self.p.stdin.write(cmd + '\n'); self.p.stdin.flush(); return self.read()
    def close(self):
        self.p.stdin.close(); self.p.wait(10); self.p.stdout.close(); self.p.stderr.close()

def _nb(*sources):
    return {'cells': [{'cell_type': 'code', 'source': s, 'metadata': {}, 'outputs': [], 'execution_count': None, 'id': f'c{i}'}
                      for i,s in enumerate(sources)], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}

def test_file_id_404_keeps_its_message(jp):
    with pytest.raises(NotFound, match='The ID for file, nowhere.txt, could not be found') as ei:
        jp.request('GET', 'api/fileid/id', params={'path': 'nowhere.txt'})
    assert not isinstance(ei.value, NoEndpoint)
    assert jp.contents.file_id('nowhere.txt') is None
    jp.contents.save('here.txt', 'x')
    assert jp.contents.file_id('here.txt') is None  # not indexed until something asks for a room
    assert jp.contents.room('here.txt')['file_id'] == jp.contents.file_id('here.txt')

def test_chunked_upload_keeps_the_file_id(jp, tmp_path):
    MiB = 2**20
    (tmp_path/'v1.bin').write_bytes(b'1' * (3 * MiB + 5)); (tmp_path/'v2.bin').write_bytes(b'2' * (2 * MiB + 7))
    jp.contents.upload(tmp_path/'v1.bin', 'data.bin')
    r = jp.contents.room('data.bin')
    fid = r['file_id']
    assert fid and jp.contents.file_id('data.bin') == fid
    jp.contents.upload(tmp_path/'v2.bin', 'data.bin')  # in 3 chunks, over the file
    assert jp.contents.file_id('data.bin') == fid and jp.contents.room('data.bin')['room_id'] == r['room_id']
    assert jp.contents.get('data.bin', content=False)['size'] == 2 * MiB + 7
    assert not [m['name'] for m in jp.contents.ls() if 'Copy' in m['name'] or '.upload-' in m['name']]  # nothing left over
    # an upload that breaks off puts the old content back
    class Boom(Exception): pass
    def boom(r, *a, **k):
        if r.request.method == 'PUT' and b'"chunk": 2' in (r.request.body or b''): raise Boom()
    jp.http.hooks['response'].append(boom)
    try:
        with pytest.raises(Boom): jp.contents.upload(tmp_path/'v1.bin', 'data.bin')
    finally: jp.http.hooks['response'].pop()
    assert jp.contents.get('data.bin', content=False)['size'] == 2 * MiB + 7
    assert not [m['name'] for m in jp.contents.ls() if 'Copy' in m['name']]

def test_room_detection(lab, jp, tmp_path):
    jp.contents.save('r.ipynb', _nb('1 + 1'))
    r = jp.contents.room('r.ipynb')
    assert r['room_id'] == f"json:notebook:{r['file_id']}" and r['session_id'] and r['open'] is False
    y = YClient(lab, jp, 'r.ipynb', tmp_path)
    try:
        assert y.synced == ['1 + 1']
        again = jp.contents.room('r.ipynb')
        assert again['open'] is True and again['room_id'] == r['room_id']
        assert jp.request('GET', f"api/collaboration/fork/{r['room_id']}") == {}  # the probe's fork is gone
    finally: y.close()

def test_room_edits_survive_a_run(lab, jp, tmp_path):
    jp.contents.save('live.ipynb', _nb('import time; time.sleep(3); 6 * 7', '"done"'))
    y = YClient(lab, jp, 'live.ipynb', tmp_path)
    try:
        assert jp.contents.room('live.ipynb')['open']
        y.ask('later added while it ran')  # a collaborator's new cell, a second into the run
        with warnings.catch_warnings(record=True) as w:  # run_notebook says the room is open, and that it merged
            warnings.simplefilter('always')
            out = run_notebook(jp, 'live.ipynb', progress=False)
        said = [str(x.message) for x in w]
        assert any('is open in a collaboration room' in m for m in said), said
        assert any('changed on the server during the run' in m for m in said), said
        assert [c['source'] for c in out['cells']][-1] == 'added while it ran', [c['source'] for c in out['cells']]
        assert out['cells'][0]['outputs'][0]['data']['text/plain'] == '42'
        disk = jp.contents.get('live.ipynb')['content']
        assert [c['source'] for c in disk['cells']] == ['import time; time.sleep(3); 6 * 7', '"done"', 'added while it ran']
        assert disk['cells'][1]['outputs'][0]['data']['text/plain'] == "'done'"
        cells = y.ask('until added')['cells']  # the room has the edit, and the outputs once it reloads the file
        assert [c['source'] for c in cells] == ['import time; time.sleep(3); 6 * 7', '"done"', 'added while it ran']
    finally: y.close()
