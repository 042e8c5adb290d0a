#!/usr/bin/env python3
"""Writes the hand-made seed corpora of the fuzz targets (Jazzer's layout:
<module>/src/test/resources/<package>/<TestClass>Inputs/<method>/<name>).

Run from anywhere; rewrites only the seeds it names (findings kept as regression seeds beside them
are left alone). Each seed is a realistic input or one that reaches a particular branch; the
fuzzer mutates from there.
"""
import os
import struct
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def seed_dir(module, package, test_class, method):
    d = os.path.join(ROOT, module, 'src', 'test', 'resources', *package.split('.'),
                     test_class + 'Inputs', method)
    os.makedirs(d, exist_ok=True)
    return d


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# --- SOCKS5 (ztunnel 15080) -------------------------------------------------------------------
# [outcome][flags] client bytes; outcome 0 connected, 1..5 failures, 6 no answer;
# flags: low 5 bits write size, 0x20 half-close, 0x40 client close.
def socks5():
    d = seed_dir('ztunnel', 'dev.ambientj.ztunnel.outbound', 'Socks5ServerHandlerFuzzTest', 'socks5Client')
    greet = bytes([5, 1, 0])
    ipv4 = bytes([5, 1, 0, 1, 127, 10, 0, 10, 0, 80])
    ipv6 = bytes([5, 1, 0, 4]) + bytes(15) + bytes([1]) + struct.pack('>H', 8080)

    def domain(host, port=80, cmd=1):
        h = host.encode('ascii')
        return bytes([5, cmd, 0, 3, len(h)]) + h + struct.pack('>H', port)

    write(d, 'ipv4-connect-with-payload', bytes([0, 0]) + greet + ipv4 + b'GET / HTTP/1.1\r\n\r\n')
    write(d, 'domain-connect-byte-by-byte', bytes([0, 1]) + greet + domain('orders.production.svc.cluster.local'))
    write(d, 'short-name-connect-refused', bytes([1, 0]) + greet + domain('payment-service', 8080))
    write(d, 'ipv6-connect-failed', bytes([3, 3]) + greet + ipv6)
    write(d, 'unknown-host', bytes([0, 0]) + greet + domain('nowhere.example.com'))
    write(d, 'bind-command', bytes([0, 0]) + greet + domain('orders', 80, cmd=2))
    write(d, 'connect-never-answered-then-half-close', bytes([6, 0x20]) + greet + ipv4 + b'data')
    write(d, 'socks4', bytes([0, 0, 4, 1, 0, 80, 127, 0, 0, 1, ord('u'), 0]))
    write(d, 'no-acceptable-method', bytes([0, 0, 5, 2, 1, 2]))
    write(d, 'no-methods', bytes([0, 0, 5, 0]))
    write(d, 'http-instead-of-socks', bytes([0, 0]) + b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    write(d, 'bad-address-type', bytes([0, 0]) + greet + bytes([5, 1, 0, 9, 1, 2, 3, 4, 0, 80]))
    write(d, 'request-version-4', bytes([0, 0]) + greet + bytes([4, 1, 0, 1, 127, 0, 0, 1, 0, 80]))
    write(d, 'greeting-then-half-close', bytes([0, 0x20]) + greet)
    write(d, 'partial-request-then-client-close', bytes([0, 0x42]) + greet + ipv4[:6])
    write(d, 'timeout-overloaded', bytes([5, 0]) + greet + ipv4)


TARGETS = {
    'socks5': socks5,
}

if __name__ == '__main__':
    names = sys.argv[1:] or list(TARGETS)
    for n in names:
        TARGETS[n]()
        print('seeds written:', n)
