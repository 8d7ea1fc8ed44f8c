import sun.misc.Signal;

/**
 * A JVM that ignores TERM: it installs a handler that does nothing, so
 * the JVM neither exits nor runs its shutdown hooks. It prints "ignoring
 * TERM" when it gets one, and "started" once the handler is in place.
 * QUIT is left to the JVM, which prints a thread dump to stdout.
 */
public class IgnoreTerm {
    public static void main(String[] args) throws Exception {
        Signal.handle(new Signal("TERM"), sig -> System.out.println("ignoring TERM"));
        Thread worker = new Thread(IgnoreTerm::work, "stuck-request-worker");
        worker.start();
        System.out.println("started");
        worker.join();
    }

    private static void work() {
        while (true) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
