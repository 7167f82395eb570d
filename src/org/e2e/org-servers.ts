// The sample services behind a site, as one `node -e` program run inside a
// server namespace: an HTTP page, a TCP echo (long-lived connections for
// the revocation and restart tests) and a UDP echo. It prints `listening`
// once all three are bound.
export const HTTP_PORT = 8080;
export const ECHO_PORT = 7007;
export const UDP_ECHO_PORT = 9009;

/** The page the web service serves, naming the namespace it runs in. */
export const WEB_PAGE = (ns: string) => `hello from ${ns}\n`;

export function servicesCode(ns: string): string {
  return [
    `const page=${JSON.stringify(WEB_PAGE(ns))};let n=0;const up=()=>{if(++n===3)console.log('listening')};`,
    `require('http').createServer((q,r)=>{r.setHeader('content-type','text/plain');r.end(page)}).listen(${HTTP_PORT},'0.0.0.0',up);`,
    `require('net').createServer(c=>{c.on('error',()=>{});c.pipe(c)}).listen(${ECHO_PORT},'0.0.0.0',up);`,
    `const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send(m,r.port,r.address));u.bind(${UDP_ECHO_PORT},'0.0.0.0',up);`,
  ].join('');
}
