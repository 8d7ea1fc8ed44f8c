import java.io.BufferedWriter;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;

/**
 * Writes numbered lines to stdout the way a Java service logs to its
 * console, for the log benchmarks (bench/logsbench): the same 120-byte
 * lines as bench/logsgen, so the output of both is checked the same way.
 *
 * <pre>java -cp DIR Writer LINES [println|printwriter]</pre>
 *
 * Line i (from 0) is i in 12 decimal digits, a space, 'x' up to 119 bytes
 * and a newline. The mode chooses the stream:
 * <ul>
 * <li>println (the default): System.out.println, the PrintStream the JVM
 * sets up with its default buffering. It flushes at every println, so each
 * line is one write(2).</li>
 * <li>printwriter: a PrintWriter over a BufferedWriter on the stdout file
 * descriptor, as programs that print much do; it writes 8,192 bytes at a
 * time whether or not a line ends there.</li>
 * </ul>
 * Each line is a new String, as a logging call makes one.
 */
public final class Writer {
    private static final int DIGITS = 12;
    private static final int LINE = 120;

    private Writer() {
    }

    public static void main(String[] args) {
        if (args.length < 1 || args.length > 2) {
            usage("want LINES [println|printwriter]");
        }
        long lines = 0;
        try {
            lines = Long.parseLong(args[0]);
        } catch (NumberFormatException e) {
            usage("LINES: want a whole number, got \"" + args[0] + "\"");
        }
        String mode = args.length > 1 ? args[1] : "println";
        char[] line = new char[LINE - 1]; // println adds the newline
        java.util.Arrays.fill(line, 'x');
        java.util.Arrays.fill(line, 0, DIGITS, '0');
        line[DIGITS] = ' ';
        switch (mode) {
            case "println":
                for (long i = 0; i < lines; i++) {
                    System.out.println(new String(line));
                    increment(line);
                }
                if (System.out.checkError()) {
                    System.exit(1);
                }
                break;
            case "printwriter":
                PrintWriter out = new PrintWriter(new BufferedWriter(
                        new OutputStreamWriter(new FileOutputStream(FileDescriptor.out))));
                for (long i = 0; i < lines; i++) {
                    out.println(new String(line));
                    increment(line);
                }
                out.flush();
                if (out.checkError()) {
                    System.exit(1);
                }
                break;
            default:
                usage("mode: want println or printwriter, got \"" + mode + "\"");
        }
    }

    /** Adds one to the decimal number at the start of line. */
    private static void increment(char[] line) {
        for (int i = DIGITS - 1; i >= 0; i--) {
            if (line[i] != '9') {
                line[i]++;
                return;
            }
            line[i] = '0';
        }
    }

    private static void usage(String problem) {
        System.err.println("Writer: " + problem);
        System.exit(2);
    }
}
