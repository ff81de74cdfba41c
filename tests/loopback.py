"""A loopback TCP proxy for tests: records bytes, cuts connections on demand, adds latency per direction.

One thread runs an asyncio loop that serves every connection, so a test never spawns more than one thread
per proxy however many connections the client opens; `close()` cuts everything and joins that thread.
"""
import asyncio, socket, struct, threading, time

class LoopbackProxy:
    "A TCP proxy on 127.0.0.1 to `port`: `cut()` drops every connection, `latency` delays each direction"
    def __init__(self,
                 port:int,              # the port to forward to on `host`
                 host:str='127.0.0.1',  # the host to forward to
                 record:bool=False,     # keep every byte: `sent` (client to server) and `received`, one bytearray per connection
                 latency=0,             # seconds added to each chunk: one number for both directions, or `(up, down)`
                 max_conns:int=64,      # connections beyond this are reset at once
                ):
        self.host,self.port,self.record,self.max_conns = host,port,record,max_conns
        self.up,self.down = latency if isinstance(latency, (tuple, list)) else (latency, latency)
        self.sent,self.received,self.cuts,self.accepted,self.refused = [],[],0,0,0
        self._conns,self._refuse_until = set(),0.0
        self.loop = asyncio.new_event_loop()
        lsn = socket.create_server(('127.0.0.1', 0))
        self.listen_port = lsn.getsockname()[1]
        self.url = f'http://127.0.0.1:{self.listen_port}/'
        self._thread = threading.Thread(target=self.loop.run_forever, name=f'loopback-{self.listen_port}', daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, sock=lsn))

    def __repr__(self): return f"LoopbackProxy({self.url} -> {self.host}:{self.port}, {len(self._conns)} open)"
    def __enter__(self): return self
    def __exit__(self, *exc): self.close()

    def _call(self, coro, timeout=10):
        "Run `coro` on the proxy's loop and return its result"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def open_connections(self) -> int: return len(self._conns)

    async def _serve(self, cr, cw):
        "Forward one client connection to the target, both ways, until either side closes or we cut it"
        if time.monotonic() < self._refuse_until or len(self._conns) >= self.max_conns:
            self.refused += 1; _reset(cw); return
        try: sr, sw = await asyncio.open_connection(self.host, self.port)
        except OSError: _reset(cw); return
        self.accepted += 1
        for w in (cw, sw): w.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up, down = (bytearray(), bytearray()) if self.record else (None, None)
        if self.record: self.sent.append(up); self.received.append(down)
        conn = (cw, sw)
        self._conns.add(conn)
        try: await asyncio.gather(self._pipe(cr, sw, self.up, up), self._pipe(sr, cw, self.down, down))
        finally:
            self._conns.discard(conn)
            for w in conn: w.close()

    async def _pipe(self, r, w, delay, buf):
        "Copy `r` to `w`, each chunk `delay` seconds late (in order), then half-close `w`"
        q = asyncio.Queue()
        async def send():
            while (item := await q.get()) is not None:
                due, data = item
                if (wait := due - self.loop.time()) > 0: await asyncio.sleep(wait)
                w.write(data)
                await w.drain()
        sender = asyncio.ensure_future(send())
        try:
            while data := await r.read(65536):
                if buf is not None: buf += data
                if delay: q.put_nowait((self.loop.time() + delay, data))
                else: w.write(data); await w.drain()
            q.put_nowait(None)
            await sender
            if w.can_write_eof(): w.write_eof()
        except (OSError, asyncio.IncompleteReadError): pass
        finally: sender.cancel()

    async def _cut(self, refuse_for):
        if refuse_for: self._refuse_until = time.monotonic() + refuse_for
        conns = list(self._conns)
        for conn in conns:
            for w in conn: _reset(w)
            self._conns.discard(conn)
        self.cuts += len(conns)
        return len(conns)

    def cut(self,
            refuse_for:float=0, # seconds during which new connections are reset too
           ) -> int:
        "Drop every open connection at once (a TCP reset to both ends); return how many were cut"
        return self._call(self._cut(refuse_for))

    def refuse(self, seconds:float):
        "Reset new connections for `seconds`, without touching the open ones"
        self._refuse_until = time.monotonic() + seconds

    def set_latency(self, up:float, down:float=None):
        "Delay chunks going to the server by `up` seconds and chunks coming back by `down` (default: `up`)"
        self.up,self.down = up, up if down is None else down

    def close(self):
        "Stop listening, cut every connection and stop the proxy's thread"
        if not self._thread.is_alive(): return
        async def shutdown():
            self._server.close()
            await self._cut(0)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks: t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try: self._call(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive(): self.loop.close()

def _reset(w):
    "Close the stream of writer `w` with a TCP reset (no FIN, no flush), as a broken link does"
    s = w.get_extra_info('socket')
    try:
        if s is not None: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError: pass
    w.transport.abort()

class RecordingProxy(LoopbackProxy):
    "A loopback TCP proxy to `port` that keeps every byte the client sends (`sent`) and receives (`received`)"
    def __init__(self, port:int, **kwargs): super().__init__(port, record=True, **kwargs)
