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


# --- HTTP/2 ------------------------------------------------------------------------------------
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype, flags, stream, payload=b''):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + struct.pack('>I', stream) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack(headers):
    """Literal header fields without indexing, new names, no Huffman: valid for any decoder."""
    out = b''
    for name, value in headers:
        n, v = name.encode(), value.encode()
        out += b'\x00' + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v
    return out


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b''.join(struct.pack('>HI', k, v) for k, v in pairs))


def headers_frame(stream, headers, end_stream=False, flags=END_HEADERS):
    return frame(HEADERS, flags | (END_STREAM if end_stream else 0), stream, hpack(headers))


def connect(stream, authority, extra=(), end_stream=False):
    return headers_frame(stream, [(':method', 'CONNECT'), (':authority', authority)] + list(extra), end_stream)


def data(stream, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def h2_frame_seeds(start, request, stream=1):
    """One seed per frame type, each after `start` (preface + SETTINGS) and `request` on `stream`."""
    s = stream
    return {
        'frame-data': start + request + data(s, b'hello') + data(s, b'', end_stream=True),
        'frame-headers-trailers': start + request + data(s, b'body')
            + headers_frame(s, [('x-trailer', 'done')], end_stream=True),
        'frame-priority': start + frame(PRIORITY, 0, s + 2, struct.pack('>IB', s, 15)) + request
            + frame(HEADERS, END_HEADERS | PRIORITY_FLAG, s + 4,
                    struct.pack('>IB', s, 200) + hpack([(':method', 'GET'), (':path', '/')])),
        'frame-rst-stream': start + request + data(s, b'partial') + frame(RST_STREAM, 0, s, struct.pack('>I', 8)),
        'frame-settings': start + settings((1, 0), (2, 0), (3, 1), (4, 1 << 20), (5, 1 << 14), (6, 8192))
            + settings(ack=True) + request,
        'frame-push-promise': start + request
            + frame(PUSH_PROMISE, END_HEADERS, s, struct.pack('>I', s + 1) + hpack([(':method', 'GET')])),
        'frame-ping': start + frame(PING, 0, 0, b'12345678') + frame(PING, ACK, 0, b'87654321') + request,
        'frame-goaway': start + request + data(s, b'x') + frame(GOAWAY, 0, 0, struct.pack('>II', s, 0) + b'bye'),
        'frame-window-update': start + frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', 1 << 20)) + request
            + frame(WINDOW_UPDATE, 0, s, struct.pack('>I', 65535)),
        'frame-continuation': start
            + frame(HEADERS, 0, s, hpack([(':method', 'CONNECT')]))
            + frame(CONTINUATION, 0, s, hpack([(':authority', '10.0.0.5:8080')]))
            + frame(CONTINUATION, END_HEADERS, s, hpack([('baggage', 'k8s.namespace.name=default')]))
            + data(s, b'after continuation', end_stream=True),
        'frame-unknown-type': start + frame(0x0B, 0xFF, 0, b'extension') + request + frame(0xFF, 0, s, b'?'),
        'frame-data-padded': start + request + frame(DATA, PADDED, s, bytes([4]) + b'padded' + bytes(4)),
    }


# [chunk] client bytes after TLS. CONNECT answer by port % 5: 0 accept, 1 refuse 401, 2 accept
# later, 3 refuse 503 later, 4 the handler throws.
def hbone_server():
    d = seed_dir('hbone', 'dev.ambientj.hbone', 'HboneServerFuzzTest', 'clientBytes')
    start = PREFACE + settings((2, 0), (4, 4 << 20))
    mesh = [('baggage', 'k8s.cluster.name=Kubernetes,k8s.namespace.name=default,service.name=client'),
            ('forwarded', 'for="127.0.1.10:41234";host=orders.production.svc.cluster.local'),
            ('traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')]
    request = connect(1, '10.0.0.5:8080', mesh)
    for name, seed in h2_frame_seeds(start, request).items():
        write(d, name, bytes([0]) + seed)
    write(d, 'connect-refused-401', bytes([0]) + start + connect(1, '10.0.0.5:8081') + data(1, b'ignored'))
    write(d, 'connect-accepted-later', bytes([0]) + start + connect(1, '10.0.0.5:8082') + data(1, b'early')
          + data(1, b'', end_stream=True))
    write(d, 'connect-refused-later-503', bytes([0]) + start + connect(1, '10.0.0.5:8083', end_stream=True))
    write(d, 'connect-handler-throws', bytes([0]) + start + connect(1, '10.0.0.5:8084'))
    write(d, 'connect-ipv6', bytes([0]) + start + connect(1, '[fd00::5]:8080') + data(1, b'v6', end_stream=True))
    write(d, 'get-instead-of-connect', bytes([0]) + start
          + headers_frame(1, [(':method', 'GET'), (':scheme', 'https'), (':path', '/'), (':authority', 'x')], True))
    write(d, 'authority-without-port', bytes([0]) + start + connect(1, 'orders.production.svc.cluster.local'))
    write(d, 'authority-garbage', bytes([0]) + start + connect(1, '[::1:80'))
    write(d, 'three-streams', bytes([0]) + start + connect(1, '10.0.0.5:8080') + connect(3, '10.0.0.6:8081')
          + connect(5, '10.0.0.7:8082') + data(1, b'one') + data(5, b'five', end_stream=True)
          + frame(RST_STREAM, 0, 1, struct.pack('>I', 0)))
    write(d, 'byte-by-byte', bytes([1]) + start + request + data(1, b'hello', end_stream=True))
    write(d, 'bad-preface', bytes([0]) + b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    write(d, 'data-on-idle-stream', bytes([0]) + start + data(7, b'no such stream'))


# [flags] server bytes after TLS: flags & 3 = CONNECTs - 1 (streams 1, 3, 5), flags >> 2 = write size.
def hbone_client():
    d = seed_dir('hbone', 'dev.ambientj.hbone', 'HboneClientFuzzTest', 'serverBytes')
    start = settings((3, 200), (4, 4 << 20), (5, 1 << 20), (6, 64 << 10)) + settings(ack=True)
    ok = headers_frame(1, [(':status', '200')])
    for name, seed in h2_frame_seeds(start, ok).items():
        if name == 'frame-priority':  # a server sends no request HEADERS: PRIORITY on our stream
            seed = start + ok + frame(PRIORITY, 0, 1, struct.pack('>IB', 0, 15)) + data(1, b'x')
        write(d, name, bytes([0]) + seed)
    write(d, 'three-answers', bytes([2]) + start + ok + headers_frame(3, [(':status', '503')], end_stream=True)
          + headers_frame(5, [(':status', '200')]) + data(5, b'five') + data(1, b'one', end_stream=True))
    write(d, 'max-concurrent-streams-1', bytes([2]) + settings((3, 1)) + ok + data(1, b'', end_stream=True))
    write(d, 'no-settings', bytes([0]) + ok + data(1, b'before settings'))
    write(d, 'informational-then-200', bytes([0]) + start + headers_frame(1, [(':status', '100')]) + ok
          + data(1, b'hi', end_stream=True))
    write(d, 'refused-401', bytes([0]) + start + headers_frame(1, [(':status', '401')], end_stream=True))
    write(d, 'status-garbage', bytes([0]) + start + headers_frame(1, [(':status', 'abc')]))
    write(d, 'no-status', bytes([0]) + start + headers_frame(1, [('server', 'x')]))
    write(d, 'data-before-headers', bytes([0]) + start + data(1, b'early'))
    write(d, 'goaway-before-answer', bytes([1]) + start + frame(GOAWAY, 0, 0, struct.pack('>II', 1, 0)) + ok)
    write(d, 'goaway-error', bytes([0]) + start + frame(GOAWAY, 0, 0, struct.pack('>II', 0, 11) + b'calm'))
    write(d, 'rst-before-answer', bytes([0]) + start + frame(RST_STREAM, 0, 1, struct.pack('>I', 7)))
    write(d, 'silent-server', bytes([0]))
    write(d, 'byte-by-byte', bytes([1 << 2]) + start + ok + data(1, b'bytes', end_stream=True))


# [flags] [answer] client bytes in the tunnel: flags & 0x1F write size, 0x20 gRPC service,
# 0x40 half-close after; answer % 6: 0 200, 1 503, 2 chunked + trailers, 3 close, 4 none, 5 garbage.
def waypoint_http():
    d = seed_dir('waypoint', 'dev.ambientj.waypoint', 'L7IngressFuzzTest', 'clientBytes')
    get = b'GET /pay HTTP/1.1\r\nHost: payment-service\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n'
    write(d, 'http1-get', bytes([0, 0]) + get)
    write(d, 'http1-get-503-retried', bytes([0, 1]) + get)
    write(d, 'http1-get-upstream-silent', bytes([0, 4]) + get)
    write(d, 'http1-get-upstream-closes', bytes([0, 3]) + get)
    write(d, 'http1-get-garbage-answer', bytes([0, 5]) + get)
    write(d, 'http1-post-content-length', bytes([0, 0])
          + b'POST /charge HTTP/1.1\r\nHost: payment-service\r\nContent-Type: application/json\r\n'
          + b'Content-Length: 14\r\n\r\n{"amount": 42}')
    write(d, 'http1-chunked-with-trailers', bytes([0, 2])
          + b'POST /charge HTTP/1.1\r\nHost: payment-service\r\nTransfer-Encoding: chunked\r\n'
          + b'Trailer: x-checksum\r\n\r\n4\r\nabcd\r\n0\r\nx-checksum: 1\r\n\r\n')
    write(d, 'http1-pipelined', bytes([0, 0]) + get + get.replace(b'/pay', b'/status'))
    write(d, 'http1-fault-test-header', bytes([0, 0])
          + get.replace(b'Accept', b'x-fault-test: true\r\nAccept'))
    write(d, 'http1-expect-continue', bytes([0, 0])
          + b'PUT /x HTTP/1.1\r\nHost: payment-service\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc')
    write(d, 'http1-h2c-upgrade', bytes([0, 0])
          + b'GET / HTTP/1.1\r\nHost: p\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n'
          + b'HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n')
    write(d, 'http10-no-host-half-close', bytes([0x40, 0]) + b'GET / HTTP/1.0\r\n\r\n')
    write(d, 'http1-byte-by-byte', bytes([1, 0]) + get)
    write(d, 'http1-bad-request-line', bytes([0, 0]) + b'GET\r\n\r\n')
    write(d, 'http1-conflicting-lengths', bytes([0, 0])
          + b'POST / HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    write(d, 'not-http', bytes([0, 0]) + b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03')
    write(d, 'h2-bad-preface', bytes([0, 0]) + b'PRI * HTTP/1.1\r\n\r\n')
    start = PREFACE + settings((2, 0), (4, 1 << 20))
    req = [(':method', 'GET'), (':scheme', 'http'), (':path', '/pay'), (':authority', 'payment-service')]
    request = headers_frame(1, req)
    for name, seed in h2_frame_seeds(start, request).items():
        write(d, 'h2-' + name, bytes([0, 0]) + seed)
    write(d, 'h2-get', bytes([0, 0]) + start + headers_frame(1, req, end_stream=True))
    write(d, 'h2-two-streams-503', bytes([0, 1]) + start + headers_frame(1, req, end_stream=True)
          + headers_frame(3, req, end_stream=True))
    grpc = [(':method', 'POST'), (':scheme', 'http'), (':path', '/helloworld.Greeter/SayHello'),
            (':authority', 'greeter:9000'), ('content-type', 'application/grpc'), ('te', 'trailers')]
    write(d, 'h2-grpc-unary', bytes([0x20, 2]) + start + headers_frame(1, grpc)
          + data(1, b'\x00\x00\x00\x00\x07\x0a\x05world', end_stream=True))
    write(d, 'h2-grpc-half-close', bytes([0x60, 4]) + start + headers_frame(1, grpc) + data(1, b'\x00\x00\x00\x00\x00'))


def headers():
    d = seed_dir('ztunnel', 'dev.ambientj.ztunnel.proxy', 'BaggageFuzzTest', 'header')
    write(d, 'ztunnel', 'k8s.cluster.name=Kubernetes,k8s.namespace.name=production,'
          'k8s.deployment.name=api-gateway,service.name=api-gateway,service.version=v1')
    write(d, 'w3c-properties', 'key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue')
    write(d, 'pod-and-junk', 'k8s.pod.name=orders-0,=,,==,k8s.namespace.name=%20x;;,service.name')
    write(d, 'empty', '')
    d = seed_dir('waypoint', 'dev.ambientj.waypoint.telemetry', 'TraceHeadersFuzzTest', 'headers')
    # one line per header: traceparent, x-b3-traceid, x-b3-spanid, x-b3-sampled, x-request-id
    write(d, 'w3c', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n\n\n\nreq-1')
    write(d, 'b3-64bit', '\na3ce929d0e0e4736\n00f067aa0ba902b7\n0\n')
    write(d, 'b3-128bit', '\n4bf92f3577b34da6a3ce929d0e0e4736\n00f067aa0ba902b7\n1\nabc')
    write(d, 'nothing', '')
    write(d, 'traceparent-shaped-not-hex', '00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-yyyyyyyyyyyyyyyy-xx')
    d = seed_dir('waypoint', 'dev.ambientj.waypoint', 'ForwardedFuzzTest', 'header')
    write(d, 'ztunnel', 'for="127.0.1.10:41234";host=payment-service.production.svc.cluster.local')
    write(d, 'ipv6', 'for="[fd00::10]:41234"')
    write(d, 'list', 'for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17')
    write(d, 'obfuscated', 'For="_gazonk"')
    write(d, 'garbage', 'for=;;,for=":::::"')


# line 1 CNI_COMMAND, 2 CNI_ARGS, 3 CNI_NETNS, 4 the agent's answer, then stdin (@AGENT@: the socket).
def cni():
    d = seed_dir('cni-plugin', 'dev.ambientj.cni.plugin', 'CniPluginFuzzTest', 'invocation')
    args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=production;K8S_POD_NAME=orders-0;K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=4f1c'
    prev = ('{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/cni-1"}],'
            '"ips":[{"address":"10.244.1.5/24","interface":0,"gateway":"10.244.1.1"}],"dns":{}}')
    conf = ('{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"ambientj-cni","agentSocket":"@AGENT@",'
            '"failOpen":false,"agentTimeoutMs":2000,"prevResult":' + prev + '}')
    write(d, 'add-enrolled', 'ADD\n' + args + '\n/var/run/netns/cni-1\nOK\n' + conf)
    write(d, 'add-skip', 'ADD\n' + args + '\n/var/run/netns/cni-1\nSKIP\n' + conf)
    write(d, 'add-agent-error', 'ADD\n' + args + '\n/var/run/netns/cni-1\nERR cannot enter netns\n' + conf)
    write(d, 'add-agent-hangs-up', 'ADD\n' + args + '\n/var/run/netns/cni-1\n<close>\n' + conf)
    write(d, 'add-not-kubernetes', 'ADD\n\n/var/run/netns/cni-2\nOK\n' + conf)
    write(d, 'del', 'DEL\n' + args + '\n\nOK\n' + conf.replace('"1.0.0"', '"0.4.0"', 1))
    write(d, 'check-0.3.1', 'CHECK\n' + args + '\n/var/run/netns/cni-1\nOK\n' + conf.replace('"1.0.0"', '"0.3.1"', 1))
    write(d, 'version', 'VERSION\n\n\nOK\n{"cniVersion":"1.0.0"}')
    write(d, 'fail-open-no-agent', 'ADD\n' + args + '\n/var/run/netns/cni-1\nOK\n'
          + conf.replace('@AGENT@', '/nonexistent/agent.sock').replace('"failOpen":false', '"failOpen":true'))
    write(d, 'escapes-and-unicode', 'ADD\n' + args + '\n/var/run/netns/cni-1\nOK\n'
          + '{"cniVersion":"1.0.0","name":"n\\u00e9t\\ud83d\\ude00","agentSocket":"@AGENT@","x":[1e10,-0.5,true,null,{}]}')
    write(d, 'bad-json', 'ADD\n' + args + '\n/var/run/netns/cni-1\nOK\n{"cniVersion":"1.0.0",')
    write(d, 'bad-cni-args', 'ADD\n;=x;K8S_POD_NAME\n/var/run/netns/cni-1\nOK\n' + conf)
    write(d, 'unknown-command', 'GC\n\n\nOK\n' + conf)
    write(d, 'agent-socket-with-nul', 'ADD\n' + args + '\n/var/run/netns/cni-1\nOK\n'
          + conf.replace('@AGENT@', '/run/x\\u0000y'))


# --- protobuf (hand-encoded: varint tags, length-delimited fields) -----------------------------
def pb_varint(v):
    out = b''
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_bytes(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(payload)) + payload


def pb_uint(field, value):
    return pb_varint(field << 3) + pb_varint(value)


# messages [flags & 1: with a netns fd] [length] bytes (istio.workload.zds.WorkloadRequest)
def zds():
    d = seed_dir('ztunnel', 'dev.ambientj.ztunnel.inpod', 'ZdsClientFuzzTest', 'agentMessages')

    def msg(payload, fd=False):
        return bytes([1 if fd else 0, len(payload)]) + payload

    def add(uid, ns='production', name='orders-0', sa='orders'):
        info = pb_bytes(1, name) + pb_bytes(2, ns) + pb_bytes(3, sa)
        return pb_bytes(1, pb_bytes(1, uid) + pb_bytes(2, info))

    keep = lambda uid: pb_bytes(5, pb_bytes(1, uid))
    delete = lambda uid: pb_bytes(2, pb_bytes(2, uid))
    snapshot = pb_bytes(3, b'')
    write(d, 'snapshot-then-delete', msg(add('uid-1'), True) + msg(keep('uid-2')) + msg(snapshot)
          + msg(add('uid-3', name='payment-v1-0', sa='payment-service'), True) + msg(delete('uid-1')))
    write(d, 'add-without-fd', msg(add('uid-1')))
    write(d, 'fd-with-delete', msg(delete('uid-9'), True))
    write(d, 'keep-after-snapshot', msg(snapshot) + msg(keep('uid-2')))
    write(d, 'empty-request', msg(b''))
    write(d, 'garbage-with-fd', msg(b'\xff\xff\xff\xff\x0f', True) + msg(add('uid-1'), True))
    write(d, 'unknown-field', msg(pb_uint(15, 7) + add('uid-4'), True))


# edits to the encoded example mesh: [op] [resource] [position:2] [length] bytes
def wds():
    d = seed_dir('shared-config', 'dev.ambientj.config.xds', 'WdsDecoderFuzzTest', 'resources')

    def edit(op, resource, position, data=b''):
        return bytes([op, resource]) + struct.pack('>H', position) + bytes([len(data)]) + data

    write(d, 'as-encoded', b'')
    write(d, 'flip-bytes-in-each', b''.join(edit(0, i, 7 * i + 3, b'\xff') for i in range(0, 40, 3)))
    write(d, 'truncate-some', b''.join(edit(2, i, 10 + i) for i in range(0, 40, 5)))
    write(d, 'insert-unknown-field', edit(1, 2, 0, pb_uint(1000, 1)) + edit(1, 5, 0, pb_bytes(99, 'x')))
    write(d, 'replace-with-garbage', edit(3, 1, 0, b'\x0a\xff\xff\xff\xff\x0f') + edit(3, 4, 0, b''))
    write(d, 'drop-and-retype', edit(4, 0, 0) + edit(4, 3, 0) + edit(5, 6, 0, b'\x01') + edit(5, 8, 0, b'\x03'))
    write(d, 'bad-address-bytes', edit(1, 0, 2, pb_bytes(3, b'\x01\x02\x03')))


# [file] then edits [op] [node:2] [length] bytes, on the seed YAML files as trees (sorted by path:
# ../shared/seed-examples/*.yaml then examples/*.yaml)
def translator():
    d = seed_dir('shared-config', 'dev.ambientj.config', 'MeshTranslatorFuzzTest', 'mutatedObjects')

    def edit(op, node, text=b''):
        if isinstance(text, str):
            text = text.encode()
        return bytes([op]) + struct.pack('>H', node) + bytes([len(text)]) + text

    for f in range(5):
        write(d, 'file-%d-as-is' % f, bytes([f]))
    write(d, 'weight-negative', bytes([1]) + edit(1, 40, '-5') + edit(1, 41, '101'))
    write(d, 'port-as-text', bytes([3]) + edit(0, 25, 'abc') + edit(0, 60, 'http'))
    write(d, 'typo-field', bytes([1]) + edit(8, 12, 'fromm') + edit(8, 70, 'principal'))
    write(d, 'principals-not-a-list', bytes([1]) + edit(0, 90, 'x') + edit(5, 91, 'rules'))
    write(d, 'deep-nesting', bytes([4]) + edit(9, 30) + edit(9, 80))
    write(d, 'drop-metadata', bytes([2]) + edit(3, 1) + edit(3, 2) + edit(7, 5))
    write(d, 'bad-regex', bytes([1]) + edit(0, 20, '(unclosed[') + edit(0, 21, '.*{1,99999999}'))
    write(d, 'raw-document', bytes([0]) + edit(10, 0, 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 99999}]}'))
    write(d, 'durations', bytes([1]) + edit(0, 45, '10') + edit(0, 46, '-1s') + edit(0, 47, '1e400h'))


TARGETS = {
    'socks5': socks5,
    'hbone-server': hbone_server,
    'hbone-client': hbone_client,
    'waypoint-http': waypoint_http,
    'headers': headers,
    'cni': cni,
    'zds': zds,
    'wds': wds,
    'translator': translator,
}

if __name__ == '__main__':
    names = sys.argv[1:] or list(TARGETS)
    for n in names:
        TARGETS[n]()
        print('seeds written:', n)
