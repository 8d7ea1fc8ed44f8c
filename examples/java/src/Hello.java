import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A small HTTP service for trying tend, using only the JDK.
 *
 * <pre>
 *   GET  /                          answers at once
 *   GET  /slow                      sleeps 300 ms (or ?ms=N, at most 10000), then answers
 *   GET  /health                    200 while serving, 503 once the shutdown began
 *   PUT  /actuator/service-registry records a status such as {"status":"OUT_OF_SERVICE"}
 * </pre>
 *
 * Every request is logged to stdout as one line. On JVM shutdown (SIGTERM,
 * which tend sends to stop it) a shutdown hook stops accepting connections,
 * waits for the requests in flight to finish, at most DRAIN_SECONDS, and
 * logs each step. The port comes from the environment variable PORT
 * (default 8080), DRAIN_SECONDS from the variable of that name (default
 * 5; 0 stops at once and cuts the requests in flight, as a service without
 * graceful shutdown does).
 */
public final class Hello {
    /** Upper bound of the wait for requests in flight at shutdown. */
    static final int DRAIN_SECONDS = Integer.parseInt(envOr("DRAIN_SECONDS", "5"));

    static final AtomicInteger inFlight = new AtomicInteger();
    static volatile boolean shuttingDown = false;
    static volatile String registryStatus = "UP";

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(envOr("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 128);
        ExecutorService workers = Executors.newFixedThreadPool(16);
        server.setExecutor(workers);

        Filter track = new Filter() {
            @Override
            public void doFilter(HttpExchange ex, Chain chain) throws IOException {
                inFlight.incrementAndGet();
                long start = System.nanoTime();
                try {
                    chain.doFilter(ex);
                } finally {
                    inFlight.decrementAndGet();
                    log(ex.getRequestMethod() + " " + ex.getRequestURI() + " " + ex.getResponseCode()
                            + " " + (System.nanoTime() - start) / 1_000_000 + "ms");
                }
            }

            @Override
            public String description() {
                return "counts and logs requests";
            }
        };
        server.createContext("/", ex -> {
            if (ex.getRequestURI().getPath().equals("/")) {
                reply(ex, 200, "hello from tend's example\n");
            } else {
                reply(ex, 404, "not found\n");
            }
        }).getFilters().add(track);
        server.createContext("/slow", ex -> {
            sleep(slowMillis(ex.getRequestURI().getQuery()));
            reply(ex, 200, "slow hello\n");
        }).getFilters().add(track);
        server.createContext("/health", ex -> {
            if (shuttingDown) {
                reply(ex, 503, "shutting down\n");
            } else {
                reply(ex, 200, "ok\n");
            }
        }).getFilters().add(track);
        server.createContext("/actuator/service-registry", Hello::serviceRegistry).getFilters().add(track);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> shutdown(server, workers), "shutdown"));
        server.start();
        log("listening on port " + port + " (pid " + ProcessHandle.current().pid() + ")");
    }

    /** Records the registry status sent with PUT; GET reads it back. */
    static void serviceRegistry(HttpExchange ex) throws IOException {
        switch (ex.getRequestMethod()) {
            case "PUT":
            case "POST": {
                String body = readBody(ex).trim();
                String status = body.replaceAll(".*\"status\"\\s*:\\s*\"([^\"]*)\".*", "$1");
                if (status.equals(body)) {
                    reply(ex, 400, "expected {\"status\":\"...\"}\n");
                    return;
                }
                registryStatus = status;
                log("service registry status set to " + status);
                reply(ex, 200, "{\"status\":\"" + status + "\"}\n");
                return;
            }
            case "GET":
                reply(ex, 200, "{\"status\":\"" + registryStatus + "\"}\n");
                return;
            default:
                reply(ex, 405, "PUT or GET\n");
        }
    }

    /** Stops accepting, lets requests in flight finish, then returns. */
    static void shutdown(HttpServer server, ExecutorService workers) {
        shuttingDown = true;
        log("shutdown: stop accepting connections; " + inFlight.get() + " request(s) in flight");
        // stop() closes the listening socket at once, then waits for the
        // exchanges in flight up to its delay. On JDK 17 it may wait the
        // whole delay even when none is left, so it runs on its own thread
        // while this one returns as soon as the count of requests in
        // flight reaches zero.
        Thread stopper = new Thread(() -> server.stop(DRAIN_SECONDS), "http-stop");
        stopper.setDaemon(true);
        stopper.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DRAIN_SECONDS);
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            sleep(10);
        }
        int left = inFlight.get();
        if (left > 0) {
            log("shutdown: gave up on " + left + " request(s) after " + DRAIN_SECONDS + "s");
        } else {
            log("shutdown: all requests finished");
        }
        workers.shutdown();
        log("shutdown: done");
    }

    /** Reads ms=N from a query string: 300 by default, at most 10000. */
    static long slowMillis(String query) {
        if (query != null) {
            for (String kv : query.split("&")) {
                if (kv.startsWith("ms=")) {
                    try {
                        return Math.max(0, Math.min(10_000, Long.parseLong(kv.substring(3))));
                    } catch (NumberFormatException e) {
                        break;
                    }
                }
            }
        }
        return 300;
    }

    static void reply(HttpExchange ex, int code, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(code, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    static String readBody(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) {
            return new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String envOr(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    static synchronized void log(String msg) {
        System.out.println(Instant.now() + " hello: " + msg);
        System.out.flush();
    }
}
