package zookeeperk8s;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.IsolatingCnxnFactory;
import org.apache.zookeeper.server.ServerCnxn;
import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.apache.zookeeper.server.admin.CommandResponse;
import org.apache.zookeeper.server.admin.Commands;
import org.apache.zookeeper.server.admin.GetCommand;

/**
 * The admin command `client_sessions`: how many connections to this server each client chroot's
 * owner holds. ZooKeeper's own `connections` command lists sessions without their identities,
 * so only something inside the server can say which app a session belongs to; the charm reads
 * this on loopback (the admin server is bound there) and publishes the count for its unit.
 */
public final class SessionsCommand extends GetCommand {

    public static final String NAME = "client_sessions";

    private SessionsCommand() {
        super(List.of(NAME));
    }

    /** Registered once per JVM: the plaintext and the TLS factory both call this. */
    public static synchronized void register() {
        if (Commands.getCommand(NAME) == null) {
            Commands.registerCommand(new SessionsCommand());
        }
    }

    /** Connections per chroot whose owner they are logged in as, every chroot listed. */
    public static Map<String, Integer> count(Policy policy, Iterable<List<Id>> sessions) {
        Map<String, Integer> counts = new TreeMap<>();
        for (Policy.Chroot chroot : policy.chroots.values()) {
            counts.put(chroot.path, 0);
        }
        for (List<Id> ids : sessions) {
            for (Policy.Chroot chroot : policy.chroots.values()) {
                if (Policy.owns(chroot, ids)) {
                    counts.merge(chroot.path, 1, Integer::sum);
                }
            }
        }
        return counts;
    }

    @Override
    public CommandResponse runGet(ZooKeeperServer zkServer, Map<String, String> kwargs) {
        CommandResponse response = initializeResponse();
        Supplier<Policy> policy = null;
        List<List<Id>> sessions = new ArrayList<>();
        for (ServerCnxnFactory factory : new ServerCnxnFactory[] {
                zkServer.getServerCnxnFactory(), zkServer.getSecureServerCnxnFactory()}) {
            if (factory == null) {
                continue;
            }
            if (factory instanceof IsolatingCnxnFactory) {
                policy = ((IsolatingCnxnFactory) factory).policy();
            }
            for (ServerCnxn cnxn : factory.getConnections()) {
                sessions.add(cnxn.getAuthInfo());
            }
        }
        response.put("sessions", count(policy == null ? Policy.EMPTY : policy.get(), sessions));
        return response;
    }
}
