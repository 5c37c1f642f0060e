#!/usr/bin/env python3
# gen-holders.py - the sample holder file of the demo order, made once and
# committed (orders/demo-holders.csv): N students of a campus card
# (profiles/campus.yaml), from a fixed seed, so that the file is the same
# wherever it is remade.
#
#   python3 orders/gen-holders.py 1000 >orders/demo-holders.csv
#
# Fields as campus.yaml checks them: name (UTF-8, at most 40 bytes),
# student-id (10 digits, unique), faculty (A-Z, space, '-', at most 24),
# valid-until (a date), contact-name (Latin-1, at most 30, optional),
# contact-phone (digits, at most 15, optional). The people are made up.
import csv
import random
import sys

FIRST = ["Emma", "Lukas", "Sofia", "Noah", "Mia", "Elias", "Hannah", "Leon",
         "Léa", "Louis", "Chloé", "Jules", "Inès", "Hugo", "Zoé", "Raphaël",
         "Giulia", "Matteo", "Chiara", "Lorenzo", "Lucía", "Mateo", "Martina",
         "Pablo", "Olivia", "Jack", "Amelia", "Oliver", "Isla", "George",
         "Anna", "Jakub", "Zuzana", "Tomáš", "Ingrid", "Lars", "Astrid",
         "Søren", "Aino", "Eero", "Maja", "Filip", "João", "Beatriz",
         "Mehmet", "Elif", "Yuki", "Haruto", "Wei", "Mei", "Arjun", "Priya",
         "Amara", "Kwame", "Nadia", "Omar", "Fatima", "Dmitri", "Olga",
         "Ana", "Luka", "Nina", "Marek", "Agnieszka", "Björn", "Freya"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Martin",
        "Bernard", "Dubois", "Lefèvre", "Moreau", "Rossi", "Russo", "Bianchi",
        "Romano", "García", "Fernández", "López", "Martínez", "Smith",
        "Jones", "Taylor", "Brown", "Williams", "Novák", "Svoboda",
        "Dvořák", "Johansson", "Andersson", "Nielsen", "Jensen", "Korhonen",
        "Virtanen", "Kowalski", "Nowak", "Silva", "Santos", "Yılmaz",
        "Kaya", "Tanaka", "Suzuki", "Wang", "Li", "Sharma", "Patel",
        "Mensah", "Okafor", "Haddad", "Ivanova", "Petrov", "Horvat",
        "Kovačić", "O'Brien", "Murphy", "van der Berg", "de Vries",
        "Janssen", "Peeters", "Lindqvist", "Sørensen", "Costa"]
FACULTY = ["ENGINEERING", "MEDICINE", "LAW", "ECONOMICS", "ARTS AND HUMANITIES",
           "NATURAL SCIENCES", "COMPUTER SCIENCE", "ARCHITECTURE",
           "SOCIAL SCIENCES", "MATHEMATICS", "EDUCATION", "PHARMACY",
           "MUSIC", "AGRICULTURE", "BUSINESS SCHOOL", "LIFE SCIENCES"]


def latin1_ok(s):
    try:
        s.encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rnd = random.Random(20261122)
    ids = set()
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["name", "student-id", "faculty", "valid-until",
                "contact-name", "contact-phone"])
    for _ in range(n):
        while True:
            name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
            if len(name.encode()) <= 40:
                break
        while True:
            sid = "2" + "".join(rnd.choice("0123456789") for _ in range(9))
            if sid not in ids:
                ids.add(sid)
                break
        faculty = rnd.choice(FACULTY)
        year = rnd.choice([2027, 2028, 2029, 2030])
        valid = f"{year}-{rnd.choice([6, 9]):02d}-30"
        contact = phone = ""
        if rnd.random() < 0.8:
            c = f"{rnd.choice(FIRST)} {name.split(' ', 1)[1]}"
            if latin1_ok(c) and len(c) <= 30:
                contact = c
                phone = "0" + "".join(rnd.choice("0123456789")
                                      for _ in range(rnd.choice([9, 10])))
        w.writerow([name, sid, faculty, valid, contact, phone])


if __name__ == "__main__":
    main()
