# Connection-scale check for `kiln serve` (docs/architecture.md, "The HTTP server"):
#   python3 bench/many_streams.py 127.0.0.1 PORT 2000 MODEL_ID
# against a server started with --max-queue 4096 (so none is refused).
# It opens N streaming chat requests at once over raw sockets and checks each ends with [DONE].
import asyncio, json, sys, time
host, port, n, model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}],
                   "max_tokens": 4, "stream": True, "temperature": 0}).encode()
head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
opened = 0
async def one(i):
    global opened
    r, w = await asyncio.open_connection(host, port)
    opened += 1
    w.write(head + body); await w.drain()
    data = await r.read(-1)
    w.close()
    return b"data: [DONE]" in data
async def main():
    t = time.time()
    res = await asyncio.gather(*[one(i) for i in range(n)], return_exceptions=True)
    ok = sum(1 for x in res if x is True)
    print(f"{ok}/{n} streams ended with [DONE] in {time.time()-t:.1f}s; errors:",
          [repr(x) for x in res if x is not True][:3])
asyncio.run(main())
