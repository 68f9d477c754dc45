package zookeeperk8s;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;

/**
 * What the charm decided, as the extension enforces it: the client SASL users and, per client
 * chroot, the identities that own it and the permissions they were granted.
 *
 * <p>Written by the charm (src/policy.py renders the same format) into one znode closed to all
 * but the super user. Text, one record per line, fields separated by tabs (ZooKeeper paths
 * cannot contain control characters, generated passwords contain none):
 *
 * <pre>
 * zookeeper-k8s policy 1
 * user    relation-7    PASSWORD
 * chroot  /app          cdrw    sasl:relation-7    digest:relation-7:HASH
 * chroot  /gone
 * </pre>
 */
public final class Policy {

    public static final String HEADER = "zookeeper-k8s policy 1";
    public static final Policy EMPTY = new Policy(Map.of(), Map.of());

    /** A client chroot: who owns it, and the most they may do in it. */
    public static final class Chroot {
        public final String path;
        public final int perms;
        public final List<Id> owners;

        Chroot(String path, int perms, List<Id> owners) {
            this.path = path;
            this.perms = perms;
            this.owners = Collections.unmodifiableList(owners);
        }
    }

    public final Map<String, String> users;
    public final Map<String, Chroot> chroots;

    private Policy(Map<String, String> users, Map<String, Chroot> chroots) {
        this.users = users;
        this.chroots = chroots;
    }

    public static Policy parse(byte[] data) {
        String[] lines = new String(data, StandardCharsets.UTF_8).split("\n");
        if (lines.length == 0 || !lines[0].equals(HEADER)) {
            throw new IllegalArgumentException("not a policy: the first line must be '" + HEADER + "'");
        }
        Map<String, String> users = new HashMap<>();
        Map<String, Chroot> chroots = new HashMap<>();
        for (int number = 1; number < lines.length; number++) {
            String line = lines[number];
            if (line.isEmpty()) {
                continue;
            }
            String[] fields = line.split("\t", -1);
            if (fields[0].equals("user") && fields.length == 3) {
                users.put(fields[1], fields[2]);
            } else if (fields[0].equals("chroot") && fields.length >= 3 && fields[1].startsWith("/")) {
                // No owners: a chroot being taken back, closed to every session but super.
                List<Id> owners = new ArrayList<>();
                for (int i = 3; i < fields.length; i++) {
                    owners.add(id(fields[i]));
                }
                chroots.put(fields[1], new Chroot(fields[1], perms(fields[2]), owners));
            } else {
                throw new IllegalArgumentException("line " + (number + 1) + " is not a user or chroot record");
            }
        }
        return new Policy(Collections.unmodifiableMap(users), Collections.unmodifiableMap(chroots));
    }

    static Id id(String text) {
        int colon = text.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("identity '" + text + "' is not scheme:id");
        }
        return new Id(text.substring(0, colon), text.substring(colon + 1));
    }

    static int perms(String letters) {
        int perms = 0;
        for (char letter : letters.toCharArray()) {
            switch (letter) {
                case 'r': perms |= ZooDefs.Perms.READ; break;
                case 'w': perms |= ZooDefs.Perms.WRITE; break;
                case 'c': perms |= ZooDefs.Perms.CREATE; break;
                case 'd': perms |= ZooDefs.Perms.DELETE; break;
                case 'a': perms |= ZooDefs.Perms.ADMIN; break;
                default: throw new IllegalArgumentException("permission '" + letter + "' is not one of rwcda");
            }
        }
        return perms;
    }

    /** The chroot `path` is, or lies under; null outside every client chroot. */
    public Chroot chrootOf(String path) {
        if (chroots.isEmpty() || path == null) {
            return null;
        }
        // Walk up the path: ZooKeeper keys znodes by their exact path string, so a path that
        // is not canonical names no znode and needs no protection.
        String at = path;
        while (true) {
            Chroot chroot = chroots.get(at);
            if (chroot != null) {
                return chroot;
            }
            int slash = at.lastIndexOf('/');
            if (slash <= 0) {
                return null;
            }
            at = at.substring(0, slash);
        }
    }

    /** Whether `path` is a proper ancestor of a chroot none of `ids` owns. */
    public boolean coversForeign(String path, List<Id> ids) {
        String prefix = path.endsWith("/") ? path : path + "/";
        for (Chroot chroot : chroots.values()) {
            if (chroot.path.startsWith(prefix) && !owns(chroot, ids)) {
                return true;
            }
        }
        return false;
    }

    public static boolean owns(Chroot chroot, List<Id> ids) {
        for (Id id : ids) {
            if (chroot.owners.contains(id)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The ACL a znode in `chroot` gets, whatever the client asked: an entry naming one of the
     * owner's identities keeps it; any other entry (world:anyone, auth, ip, someone else) is
     * given to all of the owner's identities instead, so both of its login methods keep access.
     * Permissions never exceed the grant (which never includes admin: no client may change an
     * ACL afterwards), and the super user always keeps everything.
     */
    public static List<ACL> closed(Chroot chroot, List<ACL> asked, Id superUser) {
        if (asked == null || asked.isEmpty()) {
            return asked; // ZooKeeper refuses an empty ACL itself (InvalidACL)
        }
        Map<Id, Integer> merged = new LinkedHashMap<>();
        for (ACL acl : asked) {
            int perms = acl.getPerms() & chroot.perms;
            if (perms == 0) {
                continue;
            }
            List<Id> to = chroot.owners.contains(acl.getId()) ? List.of(acl.getId()) : chroot.owners;
            for (Id id : to) {
                merged.merge(id, perms, (a, b) -> a | b);
            }
        }
        merged.put(superUser, ZooDefs.Perms.ALL);
        List<ACL> result = new ArrayList<>();
        merged.forEach((id, perms) -> result.add(new ACL(perms, id)));
        return result;
    }
}
