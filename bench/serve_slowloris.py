#!/usr/bin/python3
"""p99 latency of 16 legitimate clients of URL, with SLOW dripping connections held open
(slowloris, spread over 127.0.0.2... at PER_IP per address; a closed one is reopened) and
with none. Prints "p99_none_ms p99_slow_ms open_slow". Used by bench/serve.sh.

    serve_slowloris.py URL SLOW [PER_IP] [REQUESTS_PER_CLIENT]
"""

import http.client
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


def p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def legit(url, clients, n):
    u = urlsplit(url)
    out, lock = [], threading.Lock()

    def one():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        mine = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", u.path, headers={"Range": "bytes=0-65535"})
            conn.getresponse().read()
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


class Attacker(threading.Thread):
    def __init__(self, url, total, per_ip):
        super().__init__(daemon=True)
        u = urlsplit(url)
        self.addr, self.total, self.per_ip = (u.hostname, u.port), total, per_ip
        self.halt = threading.Event()
        self.socks = {}  # index -> socket
        self.started = set()  # indices whose request line went out

    def open(self, i):
        s = socket.socket()
        s.bind(("127.0.0.%d" % (2 + i // self.per_ip), 0))
        s.setblocking(False)
        try:
            s.connect(self.addr)
        except BlockingIOError:
            pass
        self.socks[i] = s
        self.started.discard(i)

    def run(self):
        for i in range(self.total):
            self.open(i)
        while not self.halt.wait(1.0):
            for i, s in list(self.socks.items()):
                try:
                    s.send(b"X-Drip: 1\r\n" if i in self.started else b"GET / HTTP/1.1\r\n")
                    self.started.add(i)
                except OSError:
                    s.close()
                    self.open(i)  # the server closed it: open another

    def open_count(self):
        return len(self.socks)


def main():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    url, slow = sys.argv[1], int(sys.argv[2])
    per_ip = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    none = p99(legit(url, 16, n))
    a = Attacker(url, slow, per_ip)
    a.start()
    time.sleep(3)  # let the connections settle in
    with_slow = p99(legit(url, 16, n))
    a.halt.set()
    print("%.3f %.3f %d" % (none * 1000, with_slow * 1000, a.open_count()))


if __name__ == "__main__":
    main()
