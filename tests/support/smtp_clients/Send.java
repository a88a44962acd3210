// One submission through Jakarta Mail, as a Spring Boot app's JavaMailSender sends: the
// job is a UTF-8 properties file (argv[0]); prints "key=value" lines: ok, code, command,
// message (the reply the server gave, or the error Jakarta Mail raised).
import jakarta.activation.DataHandler;
import jakarta.activation.FileDataSource;
import jakarta.mail.AuthenticationFailedException;
import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeBodyPart;
import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeMultipart;
import com.sun.mail.smtp.SMTPSendFailedException;
import com.sun.mail.smtp.SMTPTransport;

import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class Send {
    public static void main(String[] args) throws Exception {
        Properties job = new Properties();
        try (InputStreamReader in = new InputStreamReader(new FileInputStream(args[0]),
                StandardCharsets.UTF_8)) {
            job.load(in);
        }
        boolean implicit = job.getProperty("mode").equals("tls");
        // Trust exactly mailpipe's certificate (as a truststore holding it would).
        SSLContext.setDefault(trusting(job.getProperty("cafile")));
        Properties props = new Properties();
        props.put("mail.smtp.host", job.getProperty("host"));
        props.put("mail.smtp.port", job.getProperty("port"));
        props.put("mail.smtp.auth", "true");
        props.put("mail.smtp.ssl.enable", String.valueOf(implicit));
        props.put("mail.smtp.starttls.enable", String.valueOf(!implicit));
        props.put("mail.smtp.starttls.required", String.valueOf(!implicit));
        props.put("mail.smtp.ssl.checkserveridentity", "true");
        props.put("mail.smtp.connectiontimeout", "10000");
        props.put("mail.smtp.timeout", "20000");
        if (job.getProperty("envelopeFrom") != null) {
            props.put("mail.smtp.from", job.getProperty("envelopeFrom"));
        }
        Session session = Session.getInstance(props);
        final String messageId = job.getProperty("messageId");
        MimeMessage message = new MimeMessage(session) {
            @Override
            protected void updateMessageID() throws MessagingException {
                if (messageId != null) {
                    setHeader("Message-ID", messageId);
                } else {
                    super.updateMessageID();
                }
            }
        };
        message.setFrom(address(job.getProperty("from")));
        message.setRecipients(Message.RecipientType.TO, addresses(job.getProperty("to")));
        message.setRecipients(Message.RecipientType.CC, addresses(job.getProperty("cc")));
        message.setRecipients(Message.RecipientType.BCC, addresses(job.getProperty("bcc")));
        message.setSubject(job.getProperty("subject"), "UTF-8");
        MimeMultipart body = new MimeMultipart();
        MimeBodyPart text = new MimeBodyPart();
        text.setText(job.getProperty("text"), "UTF-8");
        body.addBodyPart(text);
        for (int i = 0; job.getProperty("attachment." + i + ".path") != null; i++) {
            MimeBodyPart file = new MimeBodyPart();
            file.setDataHandler(new DataHandler(new FileDataSource(job.getProperty("attachment." + i + ".path"))));
            file.setFileName(job.getProperty("attachment." + i + ".filename"));  // RFC 2231
            body.addBodyPart(file);
        }
        message.setContent(body);
        message.saveChanges();

        SMTPTransport transport = (SMTPTransport) session.getTransport("smtp");
        try {
            transport.connect(job.getProperty("host"), Integer.parseInt(job.getProperty("port")),
                              job.getProperty("user"), job.getProperty("password"));
            transport.sendMessage(message, message.getAllRecipients());
            report(true, transport.getLastReturnCode(), "", transport.getLastServerResponse());
        } catch (SMTPSendFailedException e) {
            report(false, e.getReturnCode(), e.getCommand(), e.getMessage());
        } catch (AuthenticationFailedException e) {
            report(false, transport.getLastReturnCode(), "AUTH", transport.getLastServerResponse());
        } catch (MessagingException e) {
            report(false, transport.getLastReturnCode(), "", String.valueOf(e));
        } finally {
            try { transport.close(); } catch (MessagingException ignored) { }
        }
    }

    static SSLContext trusting(String cafile) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        try (FileInputStream in = new FileInputStream(cafile)) {
            store.setCertificateEntry("mailpipe", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    static InternetAddress address(String text) throws Exception {
        InternetAddress parsed = new InternetAddress(text, false);
        if (parsed.getPersonal() != null) {
            parsed.setPersonal(parsed.getPersonal(), "UTF-8");  // RFC 2047, as Spring does
        }
        return parsed;
    }

    static InternetAddress[] addresses(String list) throws Exception {
        List<InternetAddress> found = new ArrayList<>();
        if (list != null && !list.isEmpty()) {
            for (String one : list.split("\\|")) {
                found.add(address(one));
            }
        }
        return found.toArray(new InternetAddress[0]);
    }

    static void report(boolean ok, int code, String command, String message) {
        System.out.println("ok=" + ok);
        System.out.println("code=" + code);
        System.out.println("command=" + (command == null ? "" : command));
        System.out.println("message=" + String.valueOf(message).replace("\r", " ").replace("\n", " "));
    }
}
