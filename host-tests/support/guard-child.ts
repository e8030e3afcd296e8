// Helper process for peers.test.ts: starts a peer, prints its PID and config, then idles until
// the test kills this process with SIGKILL (no exit handlers run), to prove the guard works.
import { startMosquitto } from "./peers";

startMosquitto().then(
  (broker) => {
    process.stdout.write(`PEER ${broker.pid} ${broker.configFile}\n`);
    setInterval(() => {}, 1000);
  },
  (e) => {
    process.stdout.write(`ERROR ${e}\n`);
    process.exit(1);
  },
);
