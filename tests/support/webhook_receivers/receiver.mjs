// A webhook receiver as a producer writes one in Node: every request verified with the npm
// standardwebhooks package (SECRET, the endpoint's whsec_ secret). Prints {"port"} once
// listening, then one JSON line per request: {"id", "type", "verified", "error"}; answers
// 204 when the signature verified, else 401.
import { createServer } from "node:http";
import { createRequire } from "node:module";

const require = createRequire(process.env.STANDARDWEBHOOKS_PREFIX + "/");
const { Webhook } = require("standardwebhooks");
const hook = new Webhook(process.env.SECRET);

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let line;
    try {
      const event = hook.verify(body, req.headers);
      line = { id: req.headers["webhook-id"], type: event.type, verified: true };
    } catch (error) {
      line = { id: req.headers["webhook-id"], verified: false, error: String(error) };
    }
    process.stdout.write(JSON.stringify(line) + "\n");
    res.writeHead(line.verified ? 204 : 401);
    res.end();
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
