// An independent HTTP/2 client (Node's http2 module) that reaches its server through a SOCKS5
// proxy and sends several requests on one connection: first one at a time, then all at once.
// Usage: node h2-over-socks.js SOCKS_HOST SOCKS_PORT HOST PORT PATH...
// Prints one line per response: "<path> <status> <body>"; exits 1 on any error.
'use strict';
const net = require('net');
const http2 = require('http2');

const [socksHost, socksPort, host, port, ...paths] = process.argv.slice(2);

function socks5(callback) {
  const socket = net.connect(Number(socksPort), socksHost);
  let stage = 0;
  let pending = Buffer.alloc(0);
  socket.on('error', (e) => { console.error('socks: ' + e.message); process.exit(1); });
  socket.once('connect', () => socket.write(Buffer.from([5, 1, 0])));
  const onData = (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (stage === 0 && pending.length >= 2) {
      if (pending[0] !== 5 || pending[1] !== 0) { console.error('socks: no acceptable method'); process.exit(1); }
      pending = pending.subarray(2);
      stage = 1;
      const name = Buffer.from(host, 'ascii');
      const portBytes = Buffer.from([(Number(port) >> 8) & 0xff, Number(port) & 0xff]);
      socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, portBytes]));
    }
    if (stage === 1 && pending.length >= 10) {
      if (pending[1] !== 0) { console.error('socks: reply ' + pending[1]); process.exit(1); }
      socket.removeListener('data', onData);
      socket.pause();
      callback(socket);
    }
  };
  socket.on('data', onData);
}

function get(session, path) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ':authority': host });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (headers) => { status = headers[':status']; });
    req.on('data', (d) => { body += d; });
    req.on('end', () => resolve(`${path} ${status} ${body.trim()}`));
    req.on('error', reject);
    req.end();
  });
}

socks5((socket) => {
  const session = http2.connect(`http://${host}:${port}`, { createConnection: () => socket });
  session.on('error', (e) => { console.error('session: ' + e.message); process.exit(1); });
  (async () => {
    for (const p of paths) {
      console.log(await get(session, p));
    }
    const all = await Promise.all(paths.map((p) => get(session, p + '-concurrent')));
    all.forEach((line) => console.log(line));
    session.close();
  })().catch((e) => { console.error('request: ' + e.message); process.exit(1); });
});
