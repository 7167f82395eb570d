// One end of the UDP call test, as a `node -e` program run in a user's
// namespace: the "audio" program that talks to its local relay (insel call
// or insel answer --local-port P). It says hello every 50 ms until a
// datagram from the other end arrives (both relays know both programs),
// then sends `count` numbered datagrams paced at `rate`/s, keeps receiving
// until `quietMs` passed without one, and prints one JSON line: sent,
// received (distinct numbers from the other end), lost (%).
export function udpPeerCode(relayPort: number, count: number, rate: number, quietMs = 2000, maxMs = 60_000): string {
  return [
    `const s=require('dgram').createSocket('udp4');const got=new Set();let heard=false,sent=0,last=Date.now(),done=false;`,
    `s.on('message',m=>{last=Date.now();heard=true;if(m.length===8&&m.readUInt32BE(0)===0x51511515)got.add(m.readUInt32BE(4))});`,
    `const send=b=>s.send(b,${relayPort},'127.0.0.1');`,
    `const finish=()=>{if(done)return;done=true;console.log(JSON.stringify({sent,received:got.size,lost:Math.round(10000*(1-got.size/${count}))/100}));process.exit(0)};`,
    `setTimeout(finish,${maxMs}).unref();`,
    `s.bind(0,'127.0.0.1',()=>{const hello=setInterval(()=>{if(!heard)return send(Buffer.from('hello'));clearInterval(hello);`,
    `const t0=Date.now();const pump=()=>{const due=Math.min(${count},Math.floor((Date.now()-t0)*${rate}/1000)+1);`,
    `while(sent<due){const b=Buffer.alloc(8);b.writeUInt32BE(0x51511515,0);b.writeUInt32BE(sent,4);send(b);sent++}`,
    `if(sent<${count})return setTimeout(pump,5);last=Date.now();const q=setInterval(()=>{if(Date.now()-last>${quietMs}){clearInterval(q);finish()}},100)};pump()},50)})`,
  ].join('');
}

export interface UdpPeerResult {
  sent: number;
  received: number;
  lost: number;
}
