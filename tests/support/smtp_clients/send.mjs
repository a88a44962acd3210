// One submission through nodemailer, as an app using it sends: the job (JSON) is argv[2];
// prints one JSON line: {"ok": true, "response": ...} or the error nodemailer gave
// (its SMTP reply code, the command it answered, its text).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODEMAILER_PREFIX + "/");
const nodemailer = require("nodemailer");
const job = JSON.parse(readFileSync(process.argv[2], "utf8"));

const transport = nodemailer.createTransport({
  host: job.host,
  port: job.port,
  secure: job.mode === "tls",          // implicit TLS
  requireTLS: job.mode === "starttls", // STARTTLS or fail, never AUTH in the clear
  auth: { user: job.user, pass: job.password },
  tls: { ca: readFileSync(job.cafile, "utf8"), servername: job.host },
  connectionTimeout: 10000,
  greetingTimeout: 10000,
  socketTimeout: 20000,
});

const mail = {
  from: job.from,
  to: job.to,
  cc: job.cc,
  bcc: job.bcc,
  subject: job.subject,
  text: job.text,
  messageId: job.messageId,
  attachments: (job.attachments || []).map((a) => ({ filename: a.filename, path: a.path })),
};
if (job.envelopeSize) {
  // Declare the size in MAIL FROM (SIZE=) as a client that knows it would.
  mail.envelope = { from: job.envelopeFrom || job.from, to: [].concat(job.to, job.cc || [], job.bcc || []), size: job.envelopeSize };
} else if (job.envelopeFrom) {
  mail.envelope = { from: job.envelopeFrom, to: [].concat(job.to, job.cc || [], job.bcc || []) };
}

try {
  const info = await transport.sendMail(mail);
  console.log(JSON.stringify({ ok: true, response: info.response, accepted: info.accepted, rejected: info.rejected }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.responseCode || null, command: err.command || null, error: err.code || null, message: err.message }));
} finally {
  transport.close();
}
