import java.util.logging.FileHandler;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

// Logs through java.util.logging to a FileHandler on the path given, as
// fast as asked, for the test that tend finds the file without being told
// where it is (TEND_LOG_WATCH=auto). Runs until killed.
public class WatchFileLogger {
    public static void main(String[] args) throws Exception {
        String path = args[0];
        int perSecond = Integer.parseInt(args[1]);
        FileHandler h = new FileHandler(path);
        h.setFormatter(new SimpleFormatter());
        Logger log = Logger.getLogger("watch");
        log.setUseParentHandlers(false);
        log.addHandler(h);
        System.out.println("logging to a file");
        String pad = "x".repeat(200);
        long start = System.nanoTime();
        for (long i = 0; ; ) {
            long due = (System.nanoTime() - start) / 1_000_000L * perSecond / 1000L;
            for (; i <= due; i++) {
                log.info("record " + i + " " + pad);
            }
            Thread.sleep(5);
        }
    }
}
