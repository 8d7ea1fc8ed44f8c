import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;

/**
 * A side program of the example: a small monitoring agent that checks the
 * service's /health every few seconds and logs what it sees, the way an APM
 * or registry agent runs next to a Java service. It runs until TERM.
 */
public final class Agent {
    public static void main(String[] args) throws Exception {
        String port = System.getenv().getOrDefault("PORT", "8080");
        long every = Long.parseLong(System.getenv().getOrDefault("AGENT_INTERVAL_SECONDS", "5"));
        URI health = URI.create("http://127.0.0.1:" + port + "/health");
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> log("stopping")));
        log("watching " + health + " every " + every + "s");
        while (true) {
            try {
                HttpResponse<Void> r = client.send(HttpRequest.newBuilder(health).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding());
                log("service health: " + r.statusCode());
            } catch (Exception e) {
                log("service health check failed: " + e);
            }
            Thread.sleep(every * 1000);
        }
    }

    static void log(String msg) {
        System.out.println(Instant.now() + " agent: " + msg);
        System.out.flush();
    }
}
