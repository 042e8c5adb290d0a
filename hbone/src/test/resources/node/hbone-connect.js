// An independent HBONE client: Node.js's built-in http2 module sends one CONNECT over mutual TLS,
// writes a payload, half-closes, and prints what came back.
// Usage: node hbone-connect.js <https://host:port> <authority> <key.pem|-> <cert.pem|-> <ca.pem> <payload>
// Output lines: "STATUS <code>", "ECHO <text>", "PEER <uri san>", or "ERROR <code> <message>".
'use strict';
const http2 = require('http2');
const fs = require('fs');

const [url, authority, keyPath, certPath, caPath, payload] = process.argv.slice(2);
const options = {
  ca: fs.readFileSync(caPath),
  minVersion: 'TLSv1.3',
  // Mesh certificates carry a SPIFFE URI SAN, not a host name: check the identity ourselves below.
  checkServerIdentity: () => undefined,
};
if (keyPath !== '-') {
  options.key = fs.readFileSync(keyPath);
  options.cert = fs.readFileSync(certPath);
}

const fail = (e) => {
  console.log('ERROR ' + (e.code || '') + ' ' + e.message);
  process.exit(2);
};
setTimeout(() => fail(new Error('timed out')), 15000).unref();

const session = http2.connect(url, options);
session.on('error', fail);
session.on('connect', () => {
  const peer = session.socket.getPeerCertificate();
  console.log('PEER ' + (peer && peer.subjectaltname));
});
const req = session.request({ ':method': 'CONNECT', ':authority': authority });
let echoed = '';
req.setEncoding('utf8');
req.on('response', (headers) => {
  console.log('STATUS ' + headers[':status']);
  if (headers[':status'] !== 200) {
    session.close();
    return;
  }
  req.end(payload);
});
req.on('data', (chunk) => { echoed += chunk; });
req.on('end', () => {
  console.log('ECHO ' + echoed);
  session.close();
});
req.on('error', fail);
